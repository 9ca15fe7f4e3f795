//! `lambda-thaw-emulator`: run a Lambda function binary locally, the way Lambda runs it.

use std::process::ExitCode;

fn main() -> ExitCode {
    match lambda_thaw_emulator::cli::main(std::env::args(), &mut std::io::stdout()) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {}", message.trim_end());
            ExitCode::from(2)
        }
    }
}
