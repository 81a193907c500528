namespace gomalloc::traces {}
