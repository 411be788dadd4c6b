//! The webhook signature, the same for incoming and outgoing deliveries:
//!
//! `X-Warroom-Signature: sha256=<hex HMAC-SHA256(secret, "{timestamp}.{delivery}.{body}")>`
//!
//! where `timestamp` is `X-Warroom-Timestamp` (Unix seconds), `delivery` is
//! `X-Warroom-Delivery` and `body` the raw request body, byte for byte. Signing the
//! timestamp and delivery id with the body means neither can be changed to replay a
//! captured request.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Header naming the organisation (incoming) or the sender's organisation (outgoing).
pub const ORG_HEADER: &str = "x-warroom-org";
/// Header with the Unix time (seconds) of signing.
pub const TIMESTAMP_HEADER: &str = "x-warroom-timestamp";
/// Header with the delivery id (the idempotency key).
pub const DELIVERY_HEADER: &str = "x-warroom-delivery";
/// Header with the signature, `sha256=<hex>`.
pub const SIGNATURE_HEADER: &str = "x-warroom-signature";
/// Header naming the event of an outgoing delivery.
pub const EVENT_HEADER: &str = "x-warroom-event";

const PREFIX: &str = "sha256=";

fn mac(secret: &[u8], timestamp: i64, delivery: &str, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(delivery.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `X-Warroom-Signature` value for a delivery.
pub fn sign(secret: &[u8], timestamp: i64, delivery: &str, body: &[u8]) -> String {
    let tag = mac(secret, timestamp, delivery, body)
        .finalize()
        .into_bytes();
    let mut out = String::with_capacity(PREFIX.len() + tag.len() * 2);
    out.push_str(PREFIX);
    for byte in tag {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// Whether `header` is the signature of the delivery, compared in constant time.
pub fn verify(secret: &[u8], timestamp: i64, delivery: &str, body: &[u8], header: &str) -> bool {
    let Some(hex) = header.trim().strip_prefix(PREFIX) else {
        return false;
    };
    let Some(tag) = decode_hex(hex) else {
        return false;
    };
    mac(secret, timestamp, delivery, body)
        .verify_slice(&tag)
        .is_ok()
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() != 64 {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_and_any_change_breaks_it() {
        let sig = sign(b"secret", 1_700_000_000, "d-1", b"{\"a\":1}");
        // Python: hmac.new(b"secret", b'1700000000.d-1.{"a":1}', hashlib.sha256).hexdigest()
        assert_eq!(
            sig,
            "sha256=1a24adff92ae2d02b7958c95650762e112a8ad7626708683f2e3d389c2787a4b"
        );
        assert!(verify(b"secret", 1_700_000_000, "d-1", b"{\"a\":1}", &sig));
        assert!(!verify(b"other", 1_700_000_000, "d-1", b"{\"a\":1}", &sig));
        assert!(!verify(b"secret", 1_700_000_001, "d-1", b"{\"a\":1}", &sig));
        assert!(!verify(b"secret", 1_700_000_000, "d-2", b"{\"a\":1}", &sig));
        assert!(!verify(b"secret", 1_700_000_000, "d-1", b"{\"a\":2}", &sig));
        assert!(!verify(
            b"secret",
            1_700_000_000,
            "d-1",
            b"{\"a\":1}",
            "sha256=zz"
        ));
        assert!(!verify(
            b"secret",
            1_700_000_000,
            "d-1",
            b"{\"a\":1}",
            &sig[7..]
        ));
    }

    proptest::proptest! {
        /// Fuzz: any signature header (multi-byte characters included, where slicing hex
        /// by bytes could panic) is refused without panicking unless it is the signature.
        #[test]
        fn any_header_is_checked_without_panicking(
            header in ".{0,200}",
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256),
            timestamp in proptest::prelude::any::<i64>(),
            delivery in "[a-z0-9:._-]{0,40}",
        ) {
            let real = sign(b"secret", timestamp, &delivery, &body);
            proptest::prop_assert_eq!(
                verify(b"secret", timestamp, &delivery, &body, &header),
                header.trim() == real
            );
            proptest::prop_assert!(verify(b"secret", timestamp, &delivery, &body, &real));
            let hex_like = format!("sha256={}", "é".repeat(32));
            proptest::prop_assert!(!verify(b"secret", timestamp, &delivery, &body, &hex_like));
        }
    }
}
