// Grad mode: whether ops record the graph. Per thread, so data-loader threads never record.
#pragma once

namespace edat {

bool is_grad_enabled();
void set_grad_enabled(bool enabled);

// RAII: no op records a graph node while this guard lives (evaluation, optimizer updates, backward itself).
class NoGradGuard {
 public:
  NoGradGuard() : previous_(is_grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace edat
