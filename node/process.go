package node

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/harmoniakv/harmonia/messages/kvpb"
)

// processStats reads this process's CPU time (getrusage) and resident set
// (/proc/self/statm, Linux only), which Status reports so that a benchmark
// can charge CPU and memory to the operations it ran.
func processStats() *kvpb.ProcessStats {
	st := &kvpb.ProcessStats{Goroutines: uint32(runtime.NumGoroutine())}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		st.CpuSeconds = (time.Duration(ru.Utime.Nano()) + time.Duration(ru.Stime.Nano())).Seconds()
	}
	st.RssBytes = residentBytes()
	return st
}

// residentBytes is the process's resident set size; 0 if unknown.
func residentBytes() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(b)) // size resident shared ... (pages)
	if len(fields) < 2 {
		return 0
	}
	pages, err := strconv.ParseUint(fields[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * uint64(os.Getpagesize())
}
