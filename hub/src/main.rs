// mimalloc instead of the system allocator: the hub allocates on one thread
// and frees on another all the time (requests, events, sled's nodes), which
// makes glibc's malloc contend on its arena locks.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    samplan_hub::cli::main()
}
