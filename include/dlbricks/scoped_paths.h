// Temporary files and folders removed when the owner goes out of scope.
#pragma once

#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

namespace dlbricks {

// Removes every added path (recursively) on destruction; removal errors are ignored, since a
// leftover temp file must never turn finished work into a failure.
class ScopedPaths {
 public:
  ScopedPaths() = default;
  ScopedPaths(const ScopedPaths&) = delete;
  ScopedPaths& operator=(const ScopedPaths&) = delete;
  ~ScopedPaths() {
    std::error_code ec;
    for (const std::string& p : paths_) std::filesystem::remove_all(p, ec);
  }
  const std::string& Add(std::string path) { return paths_.emplace_back(std::move(path)); }
  const std::vector<std::string>& paths() const { return paths_; }

 private:
  std::vector<std::string> paths_;
};

}  // namespace dlbricks
