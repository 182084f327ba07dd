#include "model/pdata/transaction_manager.h"

#include <cstring>

#include "model/bugzoo/bug_switch.h"

namespace thinsim::pdata {

WriteRef TransactionManager::new_block(const Validator& v) {
  block_t b = sm_->new_block();
  WriteRef ref;
  try {
    ref = bm_.write_lock_zero(b, &v);
  } catch (...) {
    sm_->dec(b);
    throw;
  }
  shadows_.set(b, true);
  return ref;
}

ShadowResult TransactionManager::shadow_block(block_t orig, const Validator& v) {
  bool shared = sm_->count_is_more_than_one(orig);
  if (!shared && is_shadow(orig)) return ShadowResult{bm_.write_lock(orig, &v), false};

  block_t copy = sm_->new_block();
  sm_->dec(orig);
  ReadRef src = bm_.read_lock(orig, &v);
  WriteRef dst = bm_.write_lock_zero(copy, &v);
  std::memcpy(dst.data(), src.data(), kMetadataBlockSize);
  src.release();
  shadows_.set(copy, true);
  return ShadowResult{std::move(dst), shared};
}

void TransactionManager::pre_commit() {
  sm_->commit();
  if (bugzoo::enabled(bugzoo::BugId::tm01_superblock_after_failed_flush)) [[unlikely]] {
    // BZ-TM-01, reverting a9d45396f595 "dm transaction manager: fix corruption due to
    // non-atomic transaction commit": the flush's result is not looked at, so the caller
    // goes on to lock and write the superblock over blocks that never became durable.
    try {
      bm_.flush();
    } catch (const IoError&) {
    }
    return;
  }
  bm_.flush();
}

void TransactionManager::commit(WriteRef superblock) {
  shadows_.clear();
  superblock.release();
  bm_.flush();
}

}  // namespace thinsim::pdata
