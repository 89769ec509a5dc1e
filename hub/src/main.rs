fn main() -> anyhow::Result<()> {
    samplan_hub::cli::main()
}
