// SwiftPM needs one source file in a C target; the declarations live in
// include/CloudflareDurableFFI.h (generated) and the code in the Rust library.
