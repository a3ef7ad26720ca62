//! The runtime from the outside: real mutual TLS on loopback, the skeleton's behaviour.

mod mtls;
mod skeleton;
