// The writes of one commit, put in a RocksDB WriteBatch in key order.
#pragma once

#include <rocksdb/write_batch.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

namespace crm {

// The operations of one commit, written to the WriteBatch in key order: the
// memtable's skip list then finds each insert's place from the last one's
// instead of from its head (RocksDB keeps the last insert's splice). Stable:
// a key deleted then put again stays so.
class SortedWrites {
 public:
  void Put(std::string key, std::string value) {
    ops_.push_back({std::move(key), std::move(value), false});
  }
  void Delete(std::string key) { ops_.push_back({std::move(key), {}, true}); }
  void WriteTo(rocksdb::WriteBatch& batch) {
    std::stable_sort(ops_.begin(), ops_.end(),
                     [](const Op& a, const Op& b) { return a.key < b.key; });
    for (const Op& op : ops_) {
      if (op.erase) {
        batch.Delete(op.key);
      } else {
        batch.Put(op.key, op.value);
      }
    }
  }

 private:
  struct Op {
    std::string key, value;
    bool erase;
  };
  std::vector<Op> ops_;
};

}  // namespace crm
