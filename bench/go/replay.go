// Command replay replays a gomalloc trace (JSON Lines, one event per line, see docs/trace-format.md) through
// the real Go runtime's allocator on one goroutine, the way `gomalloc replay --procs 1 --touch pages` does
// through a model: alloc is make() (a []unsafe.Pointer for scan objects, a []byte otherwise), the first word
// and one byte per 4 KiB page are written, free drops the last reference, a gc event is runtime.GC().
// It prints nanoseconds per event for the replay alone (loading is not timed). docs/benchmarks.md uses it to
// set the go backend's time beside the allocator it models. Build and run (Debian: golang-1.19-go):
//
//	/usr/lib/go-1.19/bin/go build -o /tmp/goreplay bench/go/replay.go
//	gomalloc convert steady10m.gmt steady10m.jsonl && GOMAXPROCS=1 /tmp/goreplay steady10m.jsonl
//
// -noscan allocates every object pointer-free, which leaves the GC almost nothing to mark (the model does
// not model marking).
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"
	"unsafe"
)

type op struct {
	kind uint8 // 0 alloc, 1 free, 2 gc
	scan bool
	slot uint32
	size uint64
}

// field returns the text of "key": value in a JSON object line (numbers, true/false and strings only).
func field(line []byte, key string) []byte {
	i := bytes.Index(line, []byte(`"`+key+`"`))
	if i < 0 {
		return nil
	}
	rest := bytes.TrimLeft(line[i+len(key)+2:], " \t:")
	j := bytes.IndexAny(rest, ",}")
	if j < 0 {
		return nil
	}
	return bytes.Trim(bytes.TrimSpace(rest[:j]), `"`)
}

func load(path string) ([]op, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var ops []op
	slotOf := map[uint64]uint32{}
	var free []uint32
	slots := 0
	line := 0
	for sc.Scan() {
		line++
		l := sc.Bytes()
		kind := string(field(l, "op"))
		if kind == "" {
			continue // the header line
		}
		switch kind {
		case "gc":
			ops = append(ops, op{kind: 2})
			continue
		case "alloc", "free":
		default:
			return nil, 0, fmt.Errorf("%s:%d: unknown op %q", path, line, kind)
		}
		id, err := strconv.ParseUint(string(field(l, "id")), 10, 64)
		if err != nil {
			return nil, 0, fmt.Errorf("%s:%d: bad id: %v", path, line, err)
		}
		if kind == "free" {
			s, ok := slotOf[id]
			if !ok {
				return nil, 0, fmt.Errorf("%s:%d: free of id %d that is not live", path, line, id)
			}
			delete(slotOf, id)
			free = append(free, s)
			ops = append(ops, op{kind: 1, slot: s})
			continue
		}
		size, err := strconv.ParseUint(string(field(l, "size")), 10, 64)
		if err != nil {
			return nil, 0, fmt.Errorf("%s:%d: bad size: %v", path, line, err)
		}
		var s uint32
		if n := len(free); n > 0 {
			s, free = free[n-1], free[:n-1]
		} else {
			s = uint32(slots)
			slots++
		}
		slotOf[id] = s
		ops = append(ops, op{kind: 0, scan: string(field(l, "scan")) == "true", slot: s, size: size})
	}
	return ops, slots, sc.Err()
}

// offHeap copies ops into memory mapped outside the Go heap.
func offHeap(ops []op) []op {
	n := len(ops) * int(unsafe.Sizeof(op{}))
	if n == 0 {
		return ops
	}
	mem, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mmap:", err)
		os.Exit(1)
	}
	out := unsafe.Slice((*op)(unsafe.Pointer(&mem[0])), len(ops))
	copy(out, ops)
	return out
}

func main() {
	noscan := flag.Bool("noscan", false, "allocate every object pointer-free (the GC then has almost nothing to mark: "+
		"what is left is closer to what the model models)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: replay [-noscan] TRACE.jsonl")
		os.Exit(2)
	}
	ops, nslots, err := load(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ops = offHeap(ops) // (the program must not count toward the heap the pacer sees)
	live := make([]unsafe.Pointer, nslots)
	runtime.GC()
	debug.FreeOSMemory()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	t0 := time.Now()
	for _, o := range ops {
		switch o.kind {
		case 0:
			var p unsafe.Pointer
			if o.size == 0 {
				p = unsafe.Pointer(&struct{}{})
			} else if o.scan && !*noscan {
				s := make([]unsafe.Pointer, (o.size+7)/8)
				p = unsafe.Pointer(&s[0])
			} else {
				s := make([]byte, o.size)
				p = unsafe.Pointer(&s[0])
			}
			if o.size >= 8 {
				*(*uint64)(p) = uint64(o.slot) // the first word, as --touch pages
				for off := uintptr(4096); off < uintptr(o.size); off += 4096 {
					*(*byte)(unsafe.Add(p, off)) = 1
				}
			}
			live[o.slot] = p
		case 1:
			live[o.slot] = nil
		case 2:
			runtime.GC()
		}
	}
	elapsed := time.Since(t0)
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	fmt.Printf("events %d  ns/event %.1f  gc_cycles %d  peak_heap_sys %d\n", len(ops),
		float64(elapsed.Nanoseconds())/float64(len(ops)), after.NumGC-before.NumGC, after.HeapSys)
	runtime.KeepAlive(live)
}
