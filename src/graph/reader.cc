// Reads an ONNX file without ever holding its weight bytes twice: the protobuf wire format is
// walked with small buffered preads (an mmap would map whole page-cache folios around every
// tag), large floating-point raw_data fields of graph initializers
// are cut out of the skeleton that protobuf parses, and their bytes are then read with one
// exact-size pread each, or (load_weights=false) not at all: the tensor then refers to its
// bytes inside the model file as ONNX external data.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <memory>

#include "internal.h"

namespace dlbricks::graph_internal {

namespace {

// raw_data fields up to this size stay in the skeleton (constants, small tensors).
constexpr size_t kLazyBytes = 4096;

constexpr uint32_t kModelGraph = 7;         // ModelProto.graph
constexpr uint32_t kGraphInitializer = 5;   // GraphProto.initializer
constexpr uint32_t kTensorRawData = 9;      // TensorProto.raw_data

struct Field {
  uint32_t number = 0;
  uint32_t wire = 0;
  int64_t begin = 0;    // file offset of the tag
  int64_t payload = 0;  // length-delimited payload
  int64_t length = 0;
  int64_t end = 0;      // one past the field
};

// Buffered positional reads of one file.
class Source {
 public:
  explicit Source(int fd) : fd_(fd) {}

  // Exactly n bytes at off into *out (appended).
  bool Append(int64_t off, int64_t n, std::string* out) {
    size_t old = out->size();
    out->resize(old + static_cast<size_t>(n));
    return Pread(off, n, out->data() + old);
  }

  bool Pread(int64_t off, int64_t n, char* dst) {
    for (int64_t done = 0; done < n;) {
      ssize_t r = ::pread(fd_, dst + done, static_cast<size_t>(n - done), off + done);
      if (r <= 0) return false;
      done += r;
    }
    return true;
  }

  // One byte at off through a small window (tags and varints).
  bool Byte(int64_t off, int64_t limit, uint8_t* b) {
    if (off >= limit) return false;
    if (off < start_ || off >= start_ + static_cast<int64_t>(window_.size())) {
      int64_t n = std::min<int64_t>(kWindow, limit - off);
      window_.resize(static_cast<size_t>(n));
      if (!Pread(off, n, window_.data())) return false;
      start_ = off;
    }
    *b = static_cast<uint8_t>(window_[static_cast<size_t>(off - start_)]);
    return true;
  }

 private:
  static constexpr int64_t kWindow = 16 * 1024;
  int fd_;
  std::string window_;
  int64_t start_ = 0;
};

bool ReadVarint(Source& src, int64_t& off, int64_t end, uint64_t* v) {
  *v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    uint8_t b;
    if (!src.Byte(off++, end, &b)) return false;
    *v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

// Reads the next field at off; false on malformed or truncated input.
bool NextField(Source& src, int64_t& off, int64_t end, Field* f) {
  f->begin = off;
  uint64_t tag;
  if (!ReadVarint(src, off, end, &tag)) return false;
  f->number = static_cast<uint32_t>(tag >> 3);
  f->wire = static_cast<uint32_t>(tag & 7);
  if (f->number == 0) return false;
  uint64_t v;
  switch (f->wire) {
    case 0:
      if (!ReadVarint(src, off, end, &v)) return false;
      break;
    case 1:
      if (end - off < 8) return false;
      off += 8;
      break;
    case 5:
      if (end - off < 4) return false;
      off += 4;
      break;
    case 2:
      if (!ReadVarint(src, off, end, &v) || v > static_cast<uint64_t>(end - off)) return false;
      f->payload = off;
      f->length = static_cast<int64_t>(v);
      off += f->length;
      break;
    default:
      return false;  // groups are not used by ONNX
  }
  f->end = off;
  return true;
}

bool IsFloating(int32_t dtype) {
  return dtype == onnx::TensorProto::FLOAT || dtype == onnx::TensorProto::DOUBLE ||
         dtype == onnx::TensorProto::FLOAT16 || dtype == onnx::TensorProto::BFLOAT16;
}

struct Walker {
  Source& src;
  bool load_weights;
  std::string file_name;

  Status Corrupt() const {
    return Status::Corruption("not an ONNX model (protobuf parse failed: truncated or not protobuf)");
  }
  Status Copy(const Field& f, std::string* out) {
    return src.Append(f.begin, f.end - f.begin, out) ? Status::OK() : Status::IOError("read failed");
  }

  Status Tensor(int64_t p, int64_t end, onnx::TensorProto* t) {
    std::string rest;
    Field raw;
    bool has_raw = false;
    Field f;
    while (p < end) {
      if (!NextField(src, p, end, &f)) return Corrupt();
      if (f.number == kTensorRawData && f.wire == 2 && f.length > static_cast<int64_t>(kLazyBytes)) {
        raw = f;
        has_raw = true;
      } else {
        DLB_RETURN_IF_ERROR(Copy(f, &rest));
      }
    }
    if (!t->ParseFromString(rest)) return Corrupt();
    if (!has_raw) return Status::OK();
    bool keep_on_disk = !load_weights && IsFloating(t->data_type()) &&
                        t->data_location() != onnx::TensorProto::EXTERNAL;
    if (!keep_on_disk) {
      // One exact-size buffer, filled in place.
      t->mutable_raw_data()->clear();
      if (!src.Append(raw.payload, raw.length, t->mutable_raw_data())) {
        return Status::IOError("short read of tensor '" + t->name() + "'");
      }
      return Status::OK();
    }
    t->set_data_location(onnx::TensorProto::EXTERNAL);
    auto add = [&](const char* key, const std::string& value) {
      auto* e = t->add_external_data();
      e->set_key(key);
      e->set_value(value);
    };
    add("location", file_name);
    add("offset", std::to_string(raw.payload));
    add("length", std::to_string(raw.length));
    return Status::OK();
  }

  Status Graph(int64_t p, int64_t end, onnx::GraphProto* g) {
    std::string rest;
    std::vector<std::unique_ptr<onnx::TensorProto>> inits;
    Field f;
    while (p < end) {
      if (!NextField(src, p, end, &f)) return Corrupt();
      if (f.number == kGraphInitializer && f.wire == 2) {
        inits.push_back(std::make_unique<onnx::TensorProto>());
        DLB_RETURN_IF_ERROR(Tensor(f.payload, f.payload + f.length, inits.back().get()));
      } else {
        DLB_RETURN_IF_ERROR(Copy(f, &rest));
      }
    }
    if (!g->ParseFromString(rest)) return Corrupt();
    for (auto& t : inits) g->mutable_initializer()->AddAllocated(t.release());
    return Status::OK();
  }

  Status Model(int64_t p, int64_t end, onnx::ModelProto* m) {
    std::string rest;
    Field f, graph;
    bool has_graph = false;
    while (p < end) {
      if (!NextField(src, p, end, &f)) return Corrupt();
      if (f.number == kModelGraph && f.wire == 2) {
        graph = f;  // the last occurrence wins, as in protobuf
        has_graph = true;
      } else {
        DLB_RETURN_IF_ERROR(Copy(f, &rest));
      }
    }
    if (!m->ParseFromString(rest)) return Corrupt();
    if (has_graph) DLB_RETURN_IF_ERROR(Graph(graph.payload, graph.payload + graph.length, m->mutable_graph()));
    return Status::OK();
  }
};

}  // namespace

Status ReadModelFile(const std::string& path, bool load_weights, onnx::ModelProto* model, int64_t* file_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::IOError("cannot open for reading");
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return Status::IOError("cannot stat");
  }
  size_t size = static_cast<size_t>(st.st_size);
  *file_bytes = static_cast<int64_t>(size);
  if (size == 0) {
    ::close(fd);
    return Status::Corruption("not an ONNX model (empty file)");
  }
  Source src(fd);
  Walker w{src, load_weights, std::filesystem::path(path).filename().string()};
  Status s = w.Model(0, static_cast<int64_t>(size), model);
  ::close(fd);
  return s;
}

}  // namespace dlbricks::graph_internal
