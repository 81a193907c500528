// placeholder until the replay layer lands
namespace gomalloc::replay {}
