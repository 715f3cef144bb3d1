// A fixed set of worker threads, each with a state of its own (serve_age: a FaceAgeEstimator, whose face detector
// must not be shared), taking jobs from a bounded queue. A job that finds the queue full is refused at once rather
// than queued: the server answers 503 instead of letting waits grow without bound.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "tensor/error.h"

namespace edat::serve {

template <class State>
class WorkerPool {
 public:
  using Job = std::function<void(State&)>;

  // One thread per state; at most `capacity` jobs wait while every thread is busy.
  WorkerPool(std::vector<std::unique_ptr<State>> states, std::size_t capacity)
      : states_(std::move(states)), capacity_(capacity) {
    EDAT_CHECK(!states_.empty(), "WorkerPool: no worker");
    for (auto& state : states_) threads_.emplace_back([this, &state] { work(*state); });
  }
  // Finishes the jobs already queued, then joins the threads.
  ~WorkerPool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (std::thread& thread : threads_) thread.join();
  }
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues the job, or returns false when every thread is busy and `capacity` jobs already wait (so with capacity 0
  // a job is taken only by an idle thread). A job must not throw (it owns its errors: serve_age's set a promise); one
  // that does is dropped, and its thread goes on with the next.
  bool try_submit(Job job) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      const std::size_t idle = threads_.size() - busy_;
      if (stopping_ || queue_.size() >= capacity_ + idle) return false;
      queue_.push_back(std::move(job));
    }
    wake_.notify_one();
    return true;
  }

  std::size_t threads() const { return threads_.size(); }
  std::size_t capacity() const { return capacity_; }
  std::size_t waiting() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return queue_.size();
  }

 private:
  void work(State& state) {
    for (;;) {
      Job job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, nothing left
        job = std::move(queue_.front());
        queue_.pop_front();
        ++busy_;
      }
      try {
        job(state);
      } catch (...) {  // the job's own fault: the other jobs and this thread are not affected
      }
      std::lock_guard<std::mutex> lock(mutex_);
      --busy_;
    }
  }

  std::vector<std::unique_ptr<State>> states_;
  std::size_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> queue_;
  std::size_t busy_ = 0;  // threads running a job
  bool stopping_ = false;
  std::vector<std::thread> threads_;  // last: started once everything above exists, joined first
};

}  // namespace edat::serve
