#include "dlbricks/file_io.h"

#include <unistd.h>

#include <filesystem>
#include <fmt/format.h>
#include <fstream>

namespace dlbricks {

Status WriteFileAtomically(const std::string& path, std::string_view bytes) {
  namespace fs = std::filesystem;
  const std::string tmp = fmt::format("{}.tmp.{}", path, getpid());
  std::error_code ec;
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return Status::IOError(path + ": cannot write");
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) {
      fs::remove(tmp, ec);
      return Status::IOError(path + ": write failed");
    }
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    const std::string why = ec.message();
    fs::remove(tmp, ec);
    return Status::IOError(path + ": cannot rename into place: " + why);
  }
  return Status::OK();
}

}  // namespace dlbricks
