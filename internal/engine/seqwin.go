package engine

// winSize is how far ahead of the last contiguous sequence number a peer's
// messages are tracked individually.
const winSize = 256

// seqWindow tracks which sequence numbers of one peer generation were
// received: every number up to base, and a bitmap of the next winSize.
type seqWindow struct {
	init bool
	base uint64 // every seq <= base has been received (or given up on)
	max  uint64 // highest seq received
	bits [winSize / 64]uint64
}

func (w *seqWindow) reset() { *w = seqWindow{} }

func (w *seqWindow) has(seq uint64) bool {
	i := seq % winSize
	return w.bits[i/64]&(1<<(i%64)) != 0
}

func (w *seqWindow) set(seq uint64) {
	i := seq % winSize
	w.bits[i/64] |= 1 << (i % 64)
}

func (w *seqWindow) clear(seq uint64) {
	i := seq % winSize
	w.bits[i/64] &^= 1 << (i % 64)
}

// seen reports whether seq was already received.
func (w *seqWindow) seen(seq uint64) bool {
	if !w.init {
		return false
	}
	if seq <= w.base {
		return true
	}
	if seq-w.base > winSize {
		return false
	}
	return w.has(seq)
}

// accept records seq and reports whether it is new (false: duplicate or too
// old to tell).
func (w *seqWindow) accept(seq uint64) bool {
	if !w.init {
		w.init = true
		w.base, w.max = seq, seq
		return true
	}
	if seq <= w.base {
		return false
	}
	if seq-w.base > winSize {
		// Far ahead: give up on everything that falls out of the window.
		newBase := seq - winSize
		for s := w.base + 1; s <= newBase && s <= w.base+winSize; s++ {
			w.clear(s)
		}
		w.base = newBase
		w.advance()
	}
	if w.has(seq) {
		return false
	}
	w.set(seq)
	if seq > w.max {
		w.max = seq
	}
	w.advance()
	return true
}

func (w *seqWindow) advance() {
	for w.base < w.max && w.has(w.base+1) {
		w.clear(w.base + 1)
		w.base++
	}
	if w.max < w.base {
		w.max = w.base
	}
}

// gap returns the first run of missing sequence numbers, if any.
func (w *seqWindow) gap() (first, last uint64, ok bool) {
	if !w.init || w.max <= w.base {
		return 0, 0, false
	}
	first = w.base + 1
	last = first
	for last+1 < w.max && !w.has(last+1) {
		last++
	}
	return first, last, true
}

// skip gives up on the missing numbers up to and including last.
func (w *seqWindow) skip(last uint64) {
	for s := w.base + 1; s <= last; s++ {
		w.clear(s)
	}
	if last > w.base {
		w.base = last
	}
	w.advance()
}
