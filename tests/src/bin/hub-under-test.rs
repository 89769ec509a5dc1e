//! The real `samplan` command line, built inside the tests package so that
//! integration tests can run it as a separate process (and kill it).

fn main() -> anyhow::Result<()> {
    samplan_hub::cli::main()
}
