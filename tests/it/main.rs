fn main() {}
mod repl;
