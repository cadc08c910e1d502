//! The request deadline inside libvips work.
//!
//! libvips work runs on a blocking thread and cannot be cancelled from the
//! async side: dropping the request's future leaves the thread computing. So
//! the deadline is carried into the job: [`scope`] sets it for the thread
//! running the pipeline, the pipeline calls [`checkpoint`] before each step
//! (which refuses to start a step after the deadline), and [`checkpoint`]
//! also arms libvips' own kill switch on the image the step starts from.
//!
//! Arming uses libvips' progress signals, as sharp's `timeout` does: with
//! progress turned on for an image, every image computed from it reports
//! `eval` after each batch of tiles, and the handler here sets the kill flag
//! of the image being computed once the deadline has passed. libvips then
//! stops that computation at its next tile with an error. What this cannot
//! stop is one encoder call that holds the whole image and runs without
//! reporting tiles (the AVIF/HEIF encoder once libvips has handed it the
//! pixels): such a call runs to its end, bounded by the output size limits.

use std::cell::Cell;
use std::ffi::c_void;
use std::time::{Duration, Instant};

use rs_vips::VipsImage;
use rs_vips::bindings;

use crate::error::{Error, Result};

/// A job's deadline and the budget it was made from (for the error message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    /// When the job must have finished.
    pub at: Instant,
    /// The whole request's budget (`REQUEST_TIMEOUT`).
    pub budget: Duration,
}

impl Deadline {
    /// `budget` from now.
    pub fn after(budget: Duration) -> Deadline {
        Deadline {
            at: Instant::now() + budget,
            budget,
        }
    }

    /// Whether it has passed.
    pub fn passed(&self) -> bool {
        Instant::now() >= self.at
    }

    /// The error a request over this deadline gets.
    pub fn error(&self) -> Error {
        Error::DeadlineExceeded {
            limit_ms: self.budget.as_millis() as u64,
        }
    }
}

thread_local! {
    static CURRENT: Cell<Option<Deadline>> = const { Cell::new(None) };
}

/// Runs `work` on this thread with `deadline` in force for [`checkpoint`].
/// The previous deadline comes back when `work` ends, also when it panics
/// (the blocking pool reuses its threads, so a stale deadline would leak
/// into the next job).
pub fn scope<T>(deadline: Option<Deadline>, work: impl FnOnce() -> T) -> T {
    /// Puts the previous deadline back on drop, unwinding included.
    struct Restore(Option<Deadline>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0;
            CURRENT.with(|c| c.set(previous));
        }
    }
    let _restore = Restore(CURRENT.with(|c| c.replace(deadline)));
    work()
}

/// The deadline in force on this thread, if any.
pub fn current() -> Option<Deadline> {
    CURRENT.with(Cell::get)
}

/// The deadline error if the deadline in force has passed.
pub fn expired() -> Option<Error> {
    current().filter(Deadline::passed).map(|d| d.error())
}

/// Fails once the deadline has passed; otherwise arms libvips' kill switch
/// on `image`, so work computed from it stops at the deadline.
pub fn checkpoint(image: &VipsImage) -> Result<()> {
    let Some(deadline) = current() else {
        return Ok(());
    };
    if deadline.passed() {
        return Err(deadline.error());
    }
    arm(image, deadline.at);
    Ok(())
}

/// Connects the `eval` handler to `image` and turns its progress reports on.
fn arm(image: &VipsImage, at: Instant) {
    let data = Box::into_raw(Box::new(at)) as *mut c_void;
    // SAFETY: `image` is a live VipsImage for the duration of the call. The
    // handler's signature is the one libvips documents for `eval` (image,
    // progress, user data); its data is the boxed Instant, freed by
    // `release` when the handler is disconnected (the image is finalised).
    unsafe {
        let ptr = image.as_mut_ptr();
        bindings::g_signal_connect_data(
            ptr as *mut c_void,
            c"eval".as_ptr(),
            Some(std::mem::transmute::<
                unsafe extern "C" fn(
                    *mut bindings::VipsImage,
                    *mut bindings::VipsProgress,
                    *mut c_void,
                ),
                unsafe extern "C" fn(),
            >(on_eval)),
            data,
            Some(release),
            0,
        );
        bindings::vips_image_set_progress(ptr, 1);
    }
}

/// libvips' `eval` signal: kill the image being computed once past the deadline.
unsafe extern "C" fn on_eval(
    _signalled: *mut bindings::VipsImage,
    progress: *mut bindings::VipsProgress,
    data: *mut c_void,
) {
    // SAFETY: `data` is the Instant boxed by `arm`, alive until `release`;
    // `progress` is the computed image's progress record, whose `im` is that image.
    unsafe {
        let at = *(data as *const Instant);
        if Instant::now() >= at && !progress.is_null() && !(*progress).im.is_null() {
            bindings::vips_image_set_kill((*progress).im, 1);
        }
    }
}

/// Frees the boxed deadline when the handler goes away.
unsafe extern "C" fn release(data: *mut c_void, _closure: *mut bindings::GClosure) {
    // SAFETY: `data` came from `Box::into_raw` in `arm` and is released once.
    unsafe { drop(Box::from_raw(data as *mut Instant)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_refuse_work_after_the_deadline() {
        crate::transform::init_vips().unwrap();
        let image = VipsImage::black(8, 8).unwrap();
        assert!(checkpoint(&image).is_ok(), "no deadline: nothing to check");
        let soon = Deadline::after(Duration::from_secs(60));
        assert!(scope(Some(soon), || checkpoint(&image)).is_ok());
        let gone = Deadline {
            at: Instant::now() - Duration::from_millis(1),
            budget: Duration::from_millis(1500),
        };
        let e = scope(Some(gone), || checkpoint(&image)).unwrap_err();
        assert!(
            matches!(e, Error::DeadlineExceeded { limit_ms: 1500 }),
            "{e:?}"
        );
        assert!(current().is_none(), "the scope ends with the job");
    }

    #[test]
    fn a_panicking_job_does_not_leave_its_deadline_behind() {
        let outer = Deadline::after(Duration::from_secs(60));
        let inner = Deadline::after(Duration::from_secs(1));
        scope(Some(outer), || {
            let caught = std::panic::catch_unwind(|| {
                scope(Some(inner), || panic!("a job panics mid-way"));
            });
            assert!(caught.is_err());
            assert_eq!(current(), Some(outer), "the enclosing deadline is back");
        });
        let caught = std::panic::catch_unwind(|| scope(Some(inner), || panic!("again")));
        assert!(caught.is_err());
        assert_eq!(current(), None, "the thread is clean for its next job");
    }

    #[test]
    fn an_armed_image_stops_computing_at_the_deadline() {
        crate::transform::init_vips().unwrap();
        // Seconds of work: a wide float blur over 3000x3000 pixels.
        let image = VipsImage::black(3000, 3000)
            .unwrap()
            .linear(&[1.0], &[128.0])
            .unwrap();
        let deadline = Deadline::after(Duration::from_millis(50));
        let result = scope(Some(deadline), || {
            checkpoint(&image)?;
            image
                .gaussblur(100.0)
                .and_then(|b| b.avg())
                .map_err(crate::transform::failure::vips)
        });
        rs_vips::Vips::error_clear();
        assert!(result.is_err(), "the computation was killed: {result:?}");
        assert!(scope(Some(deadline), expired).is_some());
    }
}
