//! Configuration: TOML schema, validation with file:line:col errors (in progress).
