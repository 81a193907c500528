#include "cli/app.h"

int main(int argc, char** argv) { return gomalloc::cli::run(argc, argv); }
