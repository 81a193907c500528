// Command gomalloc-goruntime replays a gomalloc op stream inside the real Go runtime: the child process
// behind `gomalloc replay --allocator go-runtime` (replay/goruntime_backend.h writes the stream and reads
// what this program prints).
//
// Usage: gomalloc-goruntime -ops FILE [-gogc N|off] [-touch none|first|pages|full] [-rss-interval MS]
//                           [-yield-every N] [-fill-classes SIZE,SIZE,...]
//
// The ops file (little-endian) is a 32-byte header ("GMRTOPS1", threads u32, slots u32, gc events u32,
// reserved u32, ops u64), a table of (offset u64, count u64) per trace thread, and each thread's ops as
// 16-byte records laid out like traces::ReplayOp: slot u32, seq u32, bits u64 (bits 62-63 the kind: 0 alloc,
// 1 free, 2 gc; bit 61 cross; bit 60 scan; bits 0-40 the size).
//
// One goroutine replays each trace thread on GOMAXPROCS Ps. An alloc is make([]unsafe.Pointer, n) for an
// object with pointers and make([]byte, size) otherwise; the slot table keeps the only reference, and a
// free sets it to nil. A gc event is a barrier every goroutine reaches; the last one calls runtime.GC().
// An op marked cross waits (spinning, runtime.Gosched) until its slot's sequence number is the one it
// expects, as the C++ replay engine does.
//
// Each goroutine calls runtime.Gosched() every -yield-every ops (default 1024), as a real program reaches
// the scheduler at channel operations, syscalls and blocking. Without it a loop that only allocates never
// lets the fractional mark worker run: with GOMAXPROCS=1 a cycle whose mark the assists do not finish then
// waits for sysmon's 10 ms preemption while the heap grows past its goal (measured on `gen web`: 4 -> 32 MB
// against a 4 MB goal), and the cycle count of a 1 M-event trace varied from 53 to 122 between runs; with
// it, 128 to 144.
//
// The program keeps its own footprint off the figures: ops are read with pread into buffers mapped outside
// the Go heap, slot sequence numbers live there too, and nothing is allocated on the Go heap once the
// replay starts except the trace's objects (output goes through a buffer made before the start; waits spin
// instead of parking, since parking can allocate sudogs). What it does allocate before the start (the slot
// table, goroutines, the output buffer) and the runtime's own objects are measured after a runtime.GC() and
// printed as the "start" point: the baseline, which gomalloc reports separately and does not subtract.
//
// Output on stdout, one JSON object per line: {"kind":"start"|"gc"|"pacer"|"mark"|"sample"|"end", ...} points
// (pacer: collections the runtime started by itself, noticed ended after the alloc counted in "event"; mark: the
// mark of collection "cycle" noticed begun after that alloc), then one
// {"kind":"done", ...} line with the counts and the Go version.
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

const (
	headerSize = 32
	opSize     = 16
	bufOps     = 4096 // ops per read buffer (64 KiB, outside the Go heap)
	sizeMask   = 1<<41 - 1
	scanBit    = 1 << 60
	crossBit   = 1 << 61
	kindShift  = 62
	kindAlloc  = 0
	kindFree   = 1
	kindGc     = 2
)

type op struct {
	slot uint32
	seq  uint32
	bits uint64
}

var (
	opsFile *os.File // kept reachable: its finalizer would close opsFd
	opsFd   int
	statmFd = -1
	touch   string
	live    []unsafe.Pointer // the slot table: the only references to the trace's objects
	seqs    []uint32         // per slot: ops done on it so far (outside the Go heap)
	zero    byte             // what a zero-size object's slot points to

	started   uint32 // set once the baseline is taken
	cancelled uint32 // SIGINT seen
	stopped   uint32 // replay over: the sampler stops
	finished  int32  // goroutines done
	ready     int32  // goroutines set up (their own allocations made) and waiting for the start
	eventsRun uint64 // ops done, every goroutine
	lastNumGC uint64 // NumGC as last recorded

	arrived uint32 // goroutines at the current gc barrier
	gcDone  uint32 // gc barriers completed
	active  int32  // goroutines still replaying

	outLock     uint32
	metricsBusy uint32
	out         []byte
	ms          runtime.MemStats
	t0          time.Time

	interrupt  chan os.Signal
	yieldEvery uint64
	// fillPartialSpans' objects and what it works with, all kept alive: garbage made while filling would
	// leave free slots behind once collected.
	fillers     []unsafe.Pointer
	fillClasses []uint64
	fillSamples []metrics.Sample
	fillScan    uint64 // bytes of the fill objects with pointers (scan work every cycle)
	markSeen   uint32 // the mark in progress has been reported ("mark" line)
	// What a "pacer" point reads through runtime/metrics (made before the start): ReadMemStats would flush the
	// P's mcache, which returns its cached spans and takes their unused slots off heapLive, moving the next
	// trigger (a 14 KiB object's fresh span: 42 KiB) in a program that does not watch itself.
	pacerSamples = []metrics.Sample{
		{Name: "/gc/cycles/total:gc-cycles"}, {Name: "/gc/cycles/forced:gc-cycles"}, {Name: "/gc/heap/goal:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/memory/classes/heap/free:bytes"}, {Name: "/memory/classes/heap/released:bytes"},
		{Name: "/gc/heap/objects:objects"}, {Name: "/gc/heap/allocs:bytes"}, {Name: "/gc/heap/allocs:objects"},
		{Name: "/gc/heap/frees:objects"},
	}
)

// gcphase is the runtime's GC phase (0 _GCoff, 1 _GCmark, 2 _GCmarktermination): read after each alloc to
// see the event at which a concurrent mark began (runtime/metrics counts only completed cycles).
//
//go:linkname gcphase runtime.gcphase
var gcphase uint32

type counts struct {
	allocs, frees, zero, gcs, ops uint64
	_                             [24]byte // keep goroutines' counters on separate cache lines
}

var perThread []counts

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "gomalloc-goruntime: "+format+"\n", args...)
	os.Exit(3) // 2 is the runtime's own fatal error (out of memory)
}

// offHeap returns n bytes of zeroed memory mapped outside the Go heap.
func offHeap(n int) []byte {
	if n == 0 {
		n = 1
	}
	mem, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		fail("mmap %d bytes: %v", n, err)
	}
	return mem
}

func lockOut() {
	for !atomic.CompareAndSwapUint32(&outLock, 0, 1) {
		runtime.Gosched()
	}
}

func unlockOut() { atomic.StoreUint32(&outLock, 0) }

// flush writes out to stdout; outLock held.
func flush() {
	for b := out; len(b) > 0; {
		n, err := syscall.Write(1, b)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			os.Exit(1) // the parent is gone
		}
		b = b[n:]
	}
	out = out[:0]
}

func key(k string, v uint64) {
	out = append(out, ',', '"')
	out = append(out, k...)
	out = append(out, '"', ':')
	out = strconv.AppendUint(out, v, 10)
}

// rss reads the resident set from /proc/self/statm (0 if it cannot).
func rss() uint64 {
	if statmFd < 0 {
		return 0
	}
	var buf [128]byte
	n, err := syscall.Pread(statmFd, buf[:], 0)
	if err != nil || n <= 0 {
		return 0
	}
	i := 0
	for i < n && buf[i] != ' ' {
		i++
	}
	var pages uint64
	for i++; i < n && buf[i] >= '0' && buf[i] <= '9'; i++ {
		pages = pages*10 + uint64(buf[i]-'0')
	}
	return pages * uint64(os.Getpagesize())
}

// point prints one timeline point; heap: with the MemStats (stops the world). Takes outLock.
func point(kind string, heap, bySize bool) {
	lockOut()
	defer unlockOut()
	if kind == "sample" && atomic.LoadUint32(&stopped) != 0 {
		return // the end point is (being) written: no sample after it
	}
	if heap && kind == "pacer" {
		// MemStats' figures from runtime/metrics, without a flush: HeapInuse, HeapIdle, HeapReleased and HeapSys
		// are exact; HeapAlloc and HeapObjects (and the counts) leave out what the P's cached spans allocated
		// since the mcache took them.
		metrics.Read(pacerSamples)
		v := func(i int) uint64 { return pacerSamples[i].Value.Uint64() }
		ms.NumGC, ms.NumForcedGC, ms.NextGC = uint32(v(0)), uint32(v(1)), v(2)
		ms.HeapAlloc, ms.HeapInuse = v(3), v(3)+v(4)
		ms.HeapIdle, ms.HeapReleased = v(5)+v(6), v(6)
		ms.HeapSys = ms.HeapInuse + ms.HeapIdle
		ms.HeapObjects, ms.TotalAlloc, ms.Mallocs, ms.Frees = v(7), v(8), v(9), v(10)
	} else if heap {
		runtime.ReadMemStats(&ms)
	}
	out = append(out, `{"kind":"`...)
	out = append(out, kind...)
	out = append(out, '"')
	key("t_ns", uint64(time.Since(t0)))
	key("event", atomic.LoadUint64(&eventsRun))
	key("rss", rss())
	if kind == "mark" {
		key("cycle", atomic.LoadUint64(&lastNumGC)+1) // the cycles ended so far were counted just before
	}
	if kind == "start" {
		// What every cycle scans of the baseline, as far as the program knows it: the slot table, the fill
		// objects with pointers and the table that holds them (the runtime's own objects are not counted).
		key("ScanBaseline", uint64(len(live))*8+uint64(cap(fillers))*8+fillScan)
	}
	if heap {
		key("HeapAlloc", ms.HeapAlloc)
		key("HeapInuse", ms.HeapInuse)
		key("HeapIdle", ms.HeapIdle)
		key("HeapReleased", ms.HeapReleased)
		key("HeapSys", ms.HeapSys)
		key("HeapObjects", ms.HeapObjects)
		key("TotalAlloc", ms.TotalAlloc)
		key("Mallocs", ms.Mallocs)
		key("Frees", ms.Frees)
		key("NextGC", ms.NextGC)
		key("NumGC", uint64(ms.NumGC))
		key("NumForcedGC", uint64(ms.NumForcedGC))
		atomic.StoreUint64(&lastNumGC, uint64(ms.NumGC))
		atomic.StoreUint32(&markSeen, 0) // the cycles counted so far are over (the world is stopped here)
	}
	if bySize {
		out = append(out, `,"BySize":[`...)
		for i, c := range ms.BySize {
			if i > 0 {
				out = append(out, ',')
			}
			out = append(out, '[')
			out = strconv.AppendUint(out, uint64(c.Size), 10)
			out = append(out, ',')
			out = strconv.AppendUint(out, c.Mallocs, 10)
			out = append(out, ',')
			out = strconv.AppendUint(out, c.Frees, 10)
			out = append(out, ']')
		}
		out = append(out, ']')
	}
	out = append(out, '}', '\n')
	flush()
}

// touchObject writes into the object the way the replay's touch mode says. Objects with pointers get zero
// words (a valid nil pointer for the collector), the others 0xa5 bytes.
func touchObject(p unsafe.Pointer, size uintptr, scan bool) {
	if size == 0 || touch == "none" {
		return
	}
	if scan {
		words := (size + 7) / 8
		switch touch {
		case "first":
			*(*uintptr)(p) = 0
		case "pages":
			for off := uintptr(0); off < words*8; off += 4096 {
				*(*uintptr)(unsafe.Add(p, off)) = 0
			}
		case "full":
			for w := uintptr(0); w < words; w++ {
				*(*uintptr)(unsafe.Add(p, w*8)) = 0
			}
		}
		return
	}
	b := unsafe.Slice((*byte)(p), size)
	switch touch {
	case "first":
		for i := 0; i < len(b) && i < 8; i++ {
			b[i] = 0xa5
		}
	case "pages":
		for i := 0; i < len(b) && i < 8; i++ {
			b[i] = 0xa5
		}
		for off := 4096; off < len(b); off += 4096 {
			b[off] = 0xa5
		}
	case "full":
		for i := range b {
			b[i] = 0xa5
		}
	}
}

// alloc makes an object of size bytes as Go code would: with pointers ([]unsafe.Pointer) or without ([]byte).
func alloc(size uint64, scan bool) unsafe.Pointer {
	if size == 0 {
		return unsafe.Pointer(&zero)
	}
	var p unsafe.Pointer
	if scan {
		s := make([]unsafe.Pointer, (size+7)/8)
		p = unsafe.Pointer(&s[0])
	} else {
		s := make([]byte, size)
		p = unsafe.Pointer(&s[0])
	}
	touchObject(p, uintptr(size), scan)
	return p
}

// heapInuse is HeapInuse (runtime/metrics: heap objects + unused), read without stopping the world.
func heapInuse(s []metrics.Sample) uint64 {
	metrics.Read(s)
	return s[0].Value.Uint64() + s[1].Value.Uint64()
}

// fillPartialSpans allocates, for each size class and both span kinds (with and without pointers), objects
// until the class's next object needs a fresh span from the heap: the free slots of the spans the runtime's
// own objects left partly used are then taken by live fill objects, and the trace's objects start on fresh
// spans, as in a heap that holds nothing else (the model's). The object that took a fresh span is dropped
// (the collection before the baseline frees its span). The fill objects are part of the baseline.
// warmTimers grows the P's timer heap (a slice in the runtime) before the baseline: a few goroutines sleep
// at once. Otherwise the first time the sampler's and the runtime's own timers (the scavenger's) are due
// together during the replay, the slice grows on the Go heap: a 16-byte object that is not the trace's.
func warmTimers() {
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			time.Sleep(2 * time.Millisecond)
			wg.Done()
		}()
	}
	wg.Wait()
}

func fillPartialSpans() {
	s := fillSamples
	for _, size := range fillClasses {
		for _, scan := range []bool{false, true} {
			for len(fillers) < cap(fillers) {
				before := heapInuse(s)
				p := alloc(size, scan)
				if heapInuse(s) > before {
					break
				}
				fillers = append(fillers, p)
				if scan {
					fillScan += size
				}
			}
		}
	}
}

func spinUntil(cond func() bool) bool {
	for !cond() {
		if atomic.LoadUint32(&cancelled) != 0 {
			return false
		}
		runtime.Gosched()
	}
	return true
}

// pollInterrupt notices a SIGINT without blocking (a blocking receive could allocate).
func pollInterrupt() {
	select {
	case <-interrupt:
		atomic.StoreUint32(&cancelled, 1)
	default:
	}
}

// barrier: every goroutine still replaying arrives at gc event ordinal; the last one collects.
func barrier(ordinal uint32) bool {
	if int32(atomic.AddUint32(&arrived, 1)) == atomic.LoadInt32(&active) {
		atomic.StoreUint32(&arrived, 0)
		runtime.GC()
		point("gc", true, false)
		atomic.StoreUint32(&gcDone, ordinal+1)
		return true
	}
	return spinUntil(func() bool { return atomic.LoadUint32(&gcDone) > ordinal })
}

// leave: a goroutine stops replaying (end of its stream, or interrupted); a barrier it will not reach must
// not wait for it.
func leave() {
	atomic.AddInt32(&active, -1)
	atomic.AddInt32(&finished, 1)
}

func worker(t int, offset, count uint64) {
	defer leave()
	mem := offHeap(bufOps * opSize)
	buf := unsafe.Slice((*op)(unsafe.Pointer(&mem[0])), bufOps)
	c := &perThread[t]
	samples := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(samples)
	atomic.AddInt32(&ready, 1)
	for atomic.LoadUint32(&started) == 0 {
		runtime.Gosched()
	}
	for done := uint64(0); done < count; {
		n := count - done
		if n > bufOps {
			n = bufOps
		}
		want := int(n * opSize)
		got := 0
		for got < want {
			k, err := syscall.Pread(opsFd, mem[got:want], int64(offset+done*opSize)+int64(got))
			if err == syscall.EINTR {
				continue
			}
			if err != nil || k <= 0 {
				fail("reading the ops file: %v", err)
			}
			got += k
		}
		for i := uint64(0); i < n; i++ {
			o := buf[i]
			kind := o.bits >> kindShift
			if (done+i)&255 == 0 {
				pollInterrupt()
			}
			if yieldEvery != 0 && (done+i)%yieldEvery == yieldEvery-1 {
				runtime.Gosched()
			}
			if atomic.LoadUint32(&cancelled) != 0 {
				return
			}
			c.ops++ // counted when started: an interrupted wait below leaves it unfinished, see the end
			if kind == kindGc {
				if !barrier(o.seq) {
					c.ops--
					return
				}
				c.gcs++
				atomic.AddUint64(&eventsRun, 1)
				continue
			}
			if o.bits&crossBit != 0 && !spinUntil(func() bool { return atomic.LoadUint32(&seqs[o.slot]) == o.seq }) {
				c.ops--
				return
			}
			if kind == kindAlloc {
				size := o.bits & sizeMask
				live[o.slot] = alloc(size, o.bits&scanBit != 0)
				c.allocs++
				if size == 0 {
					c.zero++
				}
			} else {
				live[o.slot] = nil
				c.frees++
			}
			atomic.StoreUint32(&seqs[o.slot], o.seq+1)
			atomic.AddUint64(&eventsRun, 1)
			// One goroutine at a time reads the GC count, the others skip: the runtime's metrics lock is a
			// semaphore, and waiting on it allocates sudogs on the Go heap.
			// The cycles that ended first, then the mark in progress: one alloc can end a cycle and begin the next.
			if kind == kindAlloc && atomic.CompareAndSwapUint32(&metricsBusy, 0, 1) {
				metrics.Read(samples)
				atomic.StoreUint32(&metricsBusy, 0)
				last := atomic.LoadUint64(&lastNumGC)
				if n := samples[0].Value.Uint64(); n > last && atomic.CompareAndSwapUint64(&lastNumGC, last, n) {
					point("pacer", true, false)
				}
			}
			if kind == kindAlloc && atomic.LoadUint32(&gcphase) != 0 && atomic.CompareAndSwapUint32(&markSeen, 0, 1) {
				point("mark", false, false)
			}
		}
		done += n
	}
}

func sampler(every time.Duration) {
	time.Sleep(time.Nanosecond) // the goroutine's timer is made by its first sleep
	atomic.AddInt32(&ready, 1)
	for atomic.LoadUint32(&stopped) == 0 {
		time.Sleep(every)
		if atomic.LoadUint32(&started) != 0 && atomic.LoadUint32(&stopped) == 0 {
			point("sample", false, false)
		}
	}
}

func main() {
	// First of all, so that an early Ctrl-C (forwarded by gomalloc) ends the replay with a report.
	interrupt = make(chan os.Signal, 1)
	signal.Notify(interrupt, os.Interrupt)
	opsPath := flag.String("ops", "", "the op stream file")
	gogc := flag.String("gogc", "100", "GOGC: a percentage or off")
	flag.StringVar(&touch, "touch", "pages", "writes into each object: none, first, pages or full")
	flag.Uint64Var(&yieldEvery, "yield-every", 1024, "runtime.Gosched() every N ops of a goroutine (0: never)")
	fill := flag.String("fill-classes", "", "size classes (comma list) whose partly used spans are filled before the baseline")
	rssInterval := flag.Uint("rss-interval", 10, "RSS sampling period in ms (0: only at the points)")
	flag.Parse()
	switch touch {
	case "none", "first", "pages", "full":
	default:
		fail("-touch %q: not none, first, pages or full", touch)
	}
	percent := -1
	if *gogc != "off" {
		v, err := strconv.Atoi(*gogc)
		if err != nil || v < 0 {
			fail("-gogc %q: not a percentage or off", *gogc)
		}
		percent = v
	}
	f, err := os.Open(*opsPath)
	if err != nil {
		fail("%v", err)
	}
	opsFile = f
	opsFd = int(f.Fd())
	var hdr [headerSize]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil || string(hdr[:8]) != "GMRTOPS1" {
		fail("%s: not a gomalloc op stream", *opsPath)
	}
	threads := int(binary.LittleEndian.Uint32(hdr[8:]))
	slots := int(binary.LittleEndian.Uint32(hdr[12:]))
	table := make([]byte, threads*16)
	if _, err := f.ReadAt(table, headerSize); err != nil {
		fail("%s: truncated thread table", *opsPath)
	}
	if fd, err := syscall.Open("/proc/self/statm", syscall.O_RDONLY|syscall.O_CLOEXEC, 0); err == nil {
		statmFd = fd
	}
	// No collection the pacer starts during the setup: such a cycle (allocation at full speed, the mark short)
	// would leave the pacer's cons/mark estimate far from the replay's own (even negative: Go 1.19 smooths it
	// with a PI controller), and the replay's first triggers with it. The forced ones below change no estimate.
	debug.SetGCPercent(-1)
	// Everything the program needs is made before the baseline.
	live = make([]unsafe.Pointer, slots)
	seqMem := offHeap(4 * slots)
	seqs = unsafe.Slice((*uint32)(unsafe.Pointer(&seqMem[0])), slots+1)[:slots]
	perThread = make([]counts, threads)
	out = make([]byte, 0, 1<<20)
	atomic.StoreInt32(&active, int32(threads))
	for t := 0; t < threads; t++ {
		go worker(t, binary.LittleEndian.Uint64(table[t*16:]), binary.LittleEndian.Uint64(table[t*16+8:]))
	}
	if *rssInterval > 0 {
		go sampler(time.Duration(*rssInterval) * time.Millisecond)
	}
	helpers := int32(threads)
	if *rssInterval > 0 {
		helpers++
	}
	for atomic.LoadInt32(&ready) < helpers {
		runtime.Gosched()
	}
	// The high-water mark of RSS from here on (5: reset it; not every kernel allows it).
	peakReset := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	if *fill != "" {
		for _, f := range strings.Split(*fill, ",") {
			v, err := strconv.ParseUint(f, 10, 64)
			if err != nil || v == 0 {
				fail("-fill-classes: %q is not a size", f)
			}
			fillClasses = append(fillClasses, v)
		}
		fillSamples = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
		fillers = make([]unsafe.Pointer, 0, 1<<14)
		warmTimers()
		runtime.GC() // every span swept: the partly used ones are in the central lists
		fillPartialSpans()
		// The P's current tiny block survives the next collection whatever it holds (gcMarkTinyAllocs marks
		// it; the mark termination then drops it from the mcache): one collection more frees it if it is dead,
		// so it is not in the baseline only to die during the replay.
		runtime.GC()
	}
	t0 = time.Now()
	runtime.GC()
	point("start", true, true)
	debug.SetGCPercent(percent) // the pacer as a fresh program's: cons/mark 0, the trigger from the last collection
	begin := time.Now()
	atomic.StoreUint32(&started, 1)
	for atomic.LoadInt32(&finished) < int32(threads) {
		runtime.Gosched()
		pollInterrupt()
	}
	wall := time.Since(begin)
	atomic.StoreUint32(&stopped, 1)
	point("end", true, true)

	var total counts
	for i := range perThread {
		total.allocs += perThread[i].allocs
		total.frees += perThread[i].frees
		total.zero += perThread[i].zero
	}
	if threads > 0 {
		total.gcs = perThread[0].gcs
	}
	lockOut()
	out = append(out, `{"kind":"done","go_version":"`...)
	out = append(out, runtime.Version()...)
	out = append(out, '"')
	key("gomaxprocs", uint64(runtime.GOMAXPROCS(0)))
	key("wall_ns", uint64(wall))
	key("events", atomic.LoadUint64(&eventsRun))
	key("allocs", total.allocs)
	key("frees", total.frees)
	key("zero_size_allocs", total.zero)
	key("gc_events", total.gcs)
	key("peak_rss", peakRss())
	out = append(out, `,"peak_rss_since_start":`...)
	out = strconv.AppendBool(out, peakReset)
	out = append(out, `,"interrupted":`...)
	out = strconv.AppendBool(out, atomic.LoadUint32(&cancelled) != 0)
	out = append(out, `,"per_thread":[`...)
	for i := range perThread {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, '[')
		out = strconv.AppendUint(out, perThread[i].allocs, 10)
		out = append(out, ',')
		out = strconv.AppendUint(out, perThread[i].frees, 10)
		out = append(out, ',')
		out = strconv.AppendUint(out, perThread[i].ops, 10)
		out = append(out, ']')
	}
	out = append(out, "]}\n"...)
	flush()
	unlockOut()
	runtime.KeepAlive(live)
}

// peakRss is VmHWM from /proc/self/status, in bytes (0 if it cannot be read).
func peakRss() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	const k = "VmHWM:"
	for i := 0; i+len(k) < len(b); i++ {
		if (i == 0 || b[i-1] == '\n') && string(b[i:i+len(k)]) == k {
			var v uint64
			j := i + len(k)
			for j < len(b) && b[j] == ' ' || j < len(b) && b[j] == '\t' {
				j++
			}
			for ; j < len(b) && b[j] >= '0' && b[j] <= '9'; j++ {
				v = v*10 + uint64(b[j]-'0')
			}
			return v * 1024
		}
	}
	return 0
}
