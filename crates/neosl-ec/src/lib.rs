//! P-256 points on aws-lc: decompression with the on-curve check, compression, multiplication
//! by the generator and by any point, `a·G + b·P`, addition and negation.
//!
//! aws-lc's P-256 code (nistz256) is constant-time in the scalar for both fixed-base and
//! variable-base multiplication, several times faster than pure-Rust arithmetic here. This is
//! the workspace's only crate with `unsafe` code: each call's pointers come from this module's
//! own allocations, which a [`Point`] owns and frees. Scalars travel as 32-byte big-endian
//! strings into short-lived `BIGNUM`s that are cleared when freed.

use std::ptr::NonNull;

use aws_lc_sys as sys;

/// A P-256 point (never the point at infinity once built by this crate's constructors, except
/// as the result of arithmetic, which [`Point::is_infinity`] tells).
pub struct Point(NonNull<sys::EC_POINT>);

// SAFETY: an EC_POINT is plain owned memory; this crate never mutates one after building it
// except through `&mut self`, so sharing `&Point` across threads only reads it.
unsafe impl Send for Point {}
// SAFETY: as above: shared references only read.
unsafe impl Sync for Point {}

impl Drop for Point {
    fn drop(&mut self) {
        // SAFETY: the pointer was allocated by EC_POINT_new/dup and is freed once, here.
        unsafe { sys::EC_POINT_free(self.0.as_ptr()) }
    }
}

impl Clone for Point {
    fn clone(&self) -> Self {
        // SAFETY: a valid point and the static P-256 group.
        let copy = unsafe { sys::EC_POINT_dup(self.0.as_ptr(), group()) };
        Self(NonNull::new(copy).unwrap_or_else(|| out_of_memory()))
    }
}

impl std::fmt::Debug for Point {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.to_compressed() {
            Some(bytes) => write!(f, "Point({})", hex_string(&bytes)),
            None => f.write_str("Point(infinity)"),
        }
    }
}

impl PartialEq for Point {
    fn eq(&self, other: &Self) -> bool {
        self.to_compressed() == other.to_compressed()
    }
}

impl Eq for Point {}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn out_of_memory() -> ! {
    panic!("aws-lc could not allocate a P-256 point")
}

fn group() -> *const sys::EC_GROUP {
    // SAFETY: EC_group_p256 returns a pointer to a static, immutable group.
    unsafe { sys::EC_group_p256() }
}

/// The group order n, big-endian.
const ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// Whether a big-endian scalar is below the group order (a debug check only).
fn below_order(k: &[u8; 32]) -> bool {
    k < &ORDER
}

/// A scalar as a BIGNUM, cleared and freed on drop.
struct Scalar(NonNull<sys::BIGNUM>);

impl Scalar {
    fn new(bytes: &[u8; 32]) -> Self {
        // SAFETY: reads 32 bytes from a valid array; a null `ret` allocates a new BIGNUM.
        let bn = unsafe { sys::BN_bin2bn(bytes.as_ptr(), bytes.len(), std::ptr::null_mut()) };
        Self(NonNull::new(bn).unwrap_or_else(|| out_of_memory()))
    }
}

impl Drop for Scalar {
    fn drop(&mut self) {
        // SAFETY: allocated by BN_bin2bn, freed once; its limbs are zeroed first.
        unsafe { sys::BN_clear_free(self.0.as_ptr()) }
    }
}

impl Point {
    fn empty() -> Self {
        // SAFETY: allocates a point of the static group.
        let p = unsafe { sys::EC_POINT_new(group()) };
        Self(NonNull::new(p).unwrap_or_else(|| out_of_memory()))
    }

    /// A point from its SEC1 encoding (compressed, uncompressed or hybrid); `None` unless it is
    /// on the curve and not the point at infinity. Callers that accept only one form check the
    /// prefix themselves (the VRF takes only `02`/`03`).
    pub fn from_sec1(bytes: &[u8]) -> Option<Self> {
        let point = Self::empty();
        // SAFETY: a valid point, a buffer of `bytes.len()` readable bytes, no BN_CTX needed.
        let ok = unsafe {
            sys::EC_POINT_oct2point(
                group(),
                point.0.as_ptr(),
                bytes.as_ptr(),
                bytes.len(),
                std::ptr::null_mut(),
            )
        };
        if ok != 1 {
            // A refused encoding leaves an entry on aws-lc's per-thread error queue.
            // SAFETY: clears this thread's error queue; no pointers involved.
            unsafe { sys::ERR_clear_error() };
            return None;
        }
        (!point.is_infinity()).then_some(point)
    }

    /// The compressed SEC1 encoding; `None` for the point at infinity.
    pub fn to_compressed(&self) -> Option<[u8; 33]> {
        if self.is_infinity() {
            return None;
        }
        let mut out = [0u8; 33];
        // SAFETY: a valid point and a writable 33-byte buffer, exactly a compressed point.
        let n = unsafe {
            sys::EC_POINT_point2oct(
                group(),
                self.0.as_ptr(),
                sys::point_conversion_form_t::POINT_CONVERSION_COMPRESSED,
                out.as_mut_ptr(),
                out.len(),
                std::ptr::null_mut(),
            )
        };
        (n == 33).then_some(out)
    }

    /// Whether this is the point at infinity.
    pub fn is_infinity(&self) -> bool {
        // SAFETY: a valid point of the static group.
        unsafe { sys::EC_POINT_is_at_infinity(group(), self.0.as_ptr()) == 1 }
    }

    fn mul_inner(g_scalar: Option<&[u8; 32]>, point: Option<(&Point, &[u8; 32])>) -> Self {
        debug_assert!(
            g_scalar.is_none_or(below_order) && point.is_none_or(|(_, k)| below_order(k)),
            "scalars must be reduced: aws-lc reduces larger ones on a variable-time path"
        );
        let out = Self::empty();
        let g = g_scalar.map(Scalar::new);
        let p = point.map(|(_, k)| Scalar::new(k));
        // SAFETY: every pointer is either null (term absent) or owned by a live value above.
        let ok = unsafe {
            sys::EC_POINT_mul(
                group(),
                out.0.as_ptr(),
                g.as_ref().map_or(std::ptr::null(), |s| s.0.as_ptr()),
                point.map_or(std::ptr::null(), |(q, _)| q.0.as_ptr()),
                p.as_ref().map_or(std::ptr::null(), |s| s.0.as_ptr()),
                std::ptr::null_mut(),
            )
        };
        assert_eq!(ok, 1, "aws-lc refused a P-256 multiplication");
        out
    }

    /// `k·G` (constant-time in `k`, a big-endian scalar below the group order; every scalar
    /// argument of this type must be reduced).
    pub fn mul_base(k: &[u8; 32]) -> Self {
        Self::mul_inner(Some(k), None)
    }

    /// `k·self` (constant-time in `k`).
    pub fn mul(&self, k: &[u8; 32]) -> Self {
        Self::mul_inner(None, Some((self, k)))
    }

    /// `a·G + b·self`.
    pub fn mul_base_add(a: &[u8; 32], b: &[u8; 32], point: &Point) -> Self {
        Self::mul_inner(Some(a), Some((point, b)))
    }

    /// `self + other`.
    pub fn add(&self, other: &Point) -> Self {
        let out = Self::empty();
        // SAFETY: three valid points of the static group; no BN_CTX needed.
        let ok = unsafe {
            sys::EC_POINT_add(
                group(),
                out.0.as_ptr(),
                self.0.as_ptr(),
                other.0.as_ptr(),
                std::ptr::null_mut(),
            )
        };
        assert_eq!(ok, 1, "aws-lc refused a P-256 addition");
        out
    }

    /// `-self`.
    pub fn negate(&self) -> Self {
        let out = self.clone();
        // SAFETY: a valid point this function owns, inverted in place.
        let ok = unsafe { sys::EC_POINT_invert(group(), out.0.as_ptr(), std::ptr::null_mut()) };
        assert_eq!(ok, 1, "aws-lc refused a P-256 negation");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::elliptic_curve::sec1::ToSec1Point as _;
    use p256::{ProjectivePoint, Scalar as P256Scalar};

    fn p256_of(point: &ProjectivePoint) -> [u8; 33] {
        point
            .to_affine()
            .to_sec1_point(true)
            .as_bytes()
            .try_into()
            .expect("33")
    }

    #[test]
    fn agrees_with_an_independent_implementation() {
        for seed in 1u64..40 {
            let k = P256Scalar::from(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let j = P256Scalar::from(seed + 77);
            let kb: [u8; 32] = k.to_bytes().into();
            let jb: [u8; 32] = j.to_bytes().into();
            let expected = ProjectivePoint::GENERATOR * k;
            let ours = Point::mul_base(&kb);
            assert_eq!(ours.to_compressed(), Some(p256_of(&expected)));
            let q = Point::from_sec1(&p256_of(&expected)).expect("on curve");
            assert_eq!(q.mul(&jb).to_compressed(), Some(p256_of(&(expected * j))));
            assert_eq!(
                Point::mul_base_add(&jb, &kb, &q).to_compressed(),
                Some(p256_of(&(ProjectivePoint::GENERATOR * j + expected * k)))
            );
            assert_eq!(
                q.add(&q.negate()).to_compressed(),
                None,
                "P + (-P) is infinity"
            );
            assert_eq!(
                q.add(&ours.negate().negate()).to_compressed(),
                Some(p256_of(&(expected + expected)))
            );
        }
        let mut off_curve = p256_of(&ProjectivePoint::GENERATOR);
        off_curve[0] = 5;
        assert!(Point::from_sec1(&off_curve).is_none());
        assert!(Point::from_sec1(&[]).is_none());
    }
}
