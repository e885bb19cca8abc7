//! The single-producer single-consumer frame ring (in progress).
