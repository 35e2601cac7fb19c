//! RFC 9568 state machine (in progress).
