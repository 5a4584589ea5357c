#pragma once
// Streams and events. Every rvos kernel and device copy of a thread runs on that thread's current
// stream of the device (by default the device's legacy default stream, so work is ordered with
// plain cudaMemcpy and with other libraries); StreamGuard switches it for a scope. Events time
// device work (benchmarks) and order streams.
//
// Plain C++ interface (opaque handles), so that code without CUDA headers can use it.
#include <cstdint>

namespace rvos::cuda {

using StreamHandle = void*;  // a cudaStream_t

// The calling thread's current stream (nullptr = the legacy default stream).
StreamHandle current_stream();

// A stream created for the life of the object (non-blocking with respect to the default stream
// when `non_blocking`).
class Stream {
 public:
  explicit Stream(bool non_blocking = false);
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  StreamHandle handle() const { return handle_; }
  void synchronize() const;

 private:
  StreamHandle handle_ = nullptr;
};

// Makes `stream` the thread's current stream until the guard dies.
class StreamGuard {
 public:
  explicit StreamGuard(StreamHandle stream);
  ~StreamGuard();
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;

 private:
  StreamHandle previous_;
};

class Event {
 public:
  explicit Event(bool timing = true);
  ~Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  // Records on `stream` (the current one by default).
  void record(StreamHandle stream = current_stream());
  void synchronize() const;
  // Makes `stream` wait for this event.
  void block(StreamHandle stream = current_stream()) const;
  // Milliseconds from `start` to this event (both recorded, timing events).
  float elapsed_ms(const Event& start) const;

 private:
  void* handle_ = nullptr;  // a cudaEvent_t
};

}  // namespace rvos::cuda
