fn main() -> std::process::ExitCode {
    loggvakt::cli::main()
}
