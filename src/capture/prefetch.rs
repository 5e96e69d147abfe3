//! A cache hint: ask for bytes before they are read.
//!
//! A replay reads the capture front to back, but its steps are irregular (each record's length
//! says where the next begins), so the processor's own prefetcher falls behind and every record
//! header is a wait on memory. Asking a few kilobytes ahead turns those waits into one stream.

/// Asks the processor to bring the cache line holding `bytes[0]` closer; does nothing for an
/// empty slice or on other architectures. Never faults, never changes what a read returns.
#[inline(always)]
pub fn prefetch(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    if !bytes.is_empty() {
        // SAFETY: SSE is part of every x86_64 processor, and a prefetch is a hint that reads
        // nothing and cannot fault; the address is that of a live slice anyway.
        #[allow(unsafe_code)]
        unsafe {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            _mm_prefetch::<_MM_HINT_T0>(bytes.as_ptr().cast());
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}
