#pragma once
// The autograd graph node and the switch that turns recording on and off.
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace unigen::autograd {

// One recorded op. `next` are the nodes that produced its inputs (for the topological order);
// `apply` reads this node's output gradient and accumulates the inputs' gradients. The typed
// output gradient lives in TypedNode<T> (autograd/engine.hpp).
struct Node {
  std::string name;
  std::vector<std::shared_ptr<Node>> next;
  std::function<void()> apply;
  virtual ~Node() = default;
  virtual bool has_grad() const = 0;
  virtual void clear_grad() = 0;
};

// Whether ops record the graph on this thread.
struct GradMode {
  static bool& enabled() {
    thread_local bool on = true;
    return on;
  }
};

}  // namespace unigen::autograd

namespace unigen {

// Scope guard: no graph is recorded while it lives (inference, optimizer updates, backward itself).
class NoGrad {
 public:
  NoGrad() : prev_(autograd::GradMode::enabled()) { autograd::GradMode::enabled() = false; }
  ~NoGrad() { autograd::GradMode::enabled() = prev_; }
  NoGrad(const NoGrad&) = delete;
  NoGrad& operator=(const NoGrad&) = delete;

 private:
  bool prev_;
};

}  // namespace unigen
