//! The uniffi-bindgen CLI: `cargo run --release -p uniffi-bindgen -- generate …`.

fn main() {
    uniffi::uniffi_bindgen_main()
}
