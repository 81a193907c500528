// placeholder until the reports layer lands
namespace gomalloc::reports {}
