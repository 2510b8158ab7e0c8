#include "dlbricks/status.h"

namespace dlbricks {

std::string Status::ToString() const {
  if (ok()) return "OK";
  return message_;
}

int Status::ExitCode() const {
  switch (code_) {
    case Code::kOk:
      return 0;
    case Code::kInvalidArgument:
    case Code::kNotFound:
    case Code::kCorruption:
    case Code::kUnsupported:
      return 2;
    case Code::kIOError:
    case Code::kInternal:
      return 1;
  }
  return 1;
}

Status Status::WithPrefix(std::string_view prefix) const {
  if (ok()) return *this;
  return Status(code_, std::string(prefix) + ": " + message_);
}

}  // namespace dlbricks
