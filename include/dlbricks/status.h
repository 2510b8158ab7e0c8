// Errors cross stage boundaries as values (leveldb-style Status).
#pragma once

#include <string>
#include <string_view>
#include <utility>

namespace dlbricks {

class Status {
 public:
  enum class Code { kOk = 0, kInvalidArgument, kNotFound, kCorruption, kIOError, kUnsupported, kInternal };

  Status() = default;
  static Status OK() { return Status(); }
  // Bad input from the user: exit code 2.
  static Status InvalidArgument(std::string msg) { return Status(Code::kInvalidArgument, std::move(msg)); }
  static Status NotFound(std::string msg) { return Status(Code::kNotFound, std::move(msg)); }
  // A file that is not what it claims to be (truncated, random bytes, bad graph): exit code 2.
  static Status Corruption(std::string msg) { return Status(Code::kCorruption, std::move(msg)); }
  static Status IOError(std::string msg) { return Status(Code::kIOError, std::move(msg)); }
  static Status Unsupported(std::string msg) { return Status(Code::kUnsupported, std::move(msg)); }
  // The work failed for a reason that is not the input's fault: exit code 1.
  static Status Internal(std::string msg) { return Status(Code::kInternal, std::move(msg)); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string ToString() const;
  // 0 ok, 2 bad usage or bad input, 1 anything else (DESIGN.md, CLI contract).
  int ExitCode() const;
  // Returns a copy whose message is "<prefix>: <message>".
  Status WithPrefix(std::string_view prefix) const;

 private:
  Status(Code code, std::string msg) : code_(code), message_(std::move(msg)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

}  // namespace dlbricks

#define DLB_RETURN_IF_ERROR(expr)              \
  do {                                         \
    ::dlbricks::Status _dlb_st = (expr);       \
    if (!_dlb_st.ok()) return _dlb_st;         \
  } while (0)
