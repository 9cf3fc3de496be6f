package sbi

import (
	"context"
	"fmt"
	"math"
	"sort"
)

// blockCache holds the most recently used blocks of a Source, so that a
// loss can gather rows by their global index while only a bounded number
// of rows is in memory. It is used from one goroutine (flows.Fit's loop).
type blockCache struct {
	src    Source
	dt, dx int
	starts []int // starts[b] is block b's first row; starts[B] = n
	maxLen int
	slots  []cacheSlot
	cap    int
	slotOf []int32 // per block: its slot, or -1
	tick   uint64

	reads, resident, maxResident int
	err                          error                   // first read error
	cancel                       context.CancelCauseFunc // stops training on a read error
}

type cacheSlot struct {
	block int
	rows  int
	used  uint64
	theta []float64
	x     []float64
}

func newBlockCache(src Source, blocks []int, capacity int, cancel context.CancelCauseFunc) *blockCache {
	dt, dx := src.Dims()
	c := &blockCache{src: src, dt: dt, dx: dx, starts: make([]int, len(blocks)+1), cap: max(2, capacity),
		slotOf: make([]int32, len(blocks)), cancel: cancel}
	for b, l := range blocks {
		c.starts[b+1] = c.starts[b] + l
		c.maxLen = max(c.maxLen, l)
		c.slotOf[b] = -1
	}
	return c
}

// block returns the slot holding block b, reading it on a miss (evicting
// the least recently used block when the cache is full), or nil after a
// read error.
func (c *blockCache) block(b int) *cacheSlot {
	c.tick++
	if s := c.slotOf[b]; s >= 0 {
		c.slots[s].used = c.tick
		return &c.slots[s]
	}
	if c.err != nil {
		return nil
	}
	var s int
	if len(c.slots) < c.cap {
		c.slots = append(c.slots, cacheSlot{block: -1, theta: make([]float64, c.maxLen*c.dt), x: make([]float64, c.maxLen*c.dx)})
		s = len(c.slots) - 1
	} else {
		for i := range c.slots {
			if c.slots[i].used < c.slots[s].used {
				s = i
			}
		}
	}
	sl := &c.slots[s]
	if sl.block >= 0 {
		c.slotOf[sl.block] = -1
		c.resident -= sl.rows
		sl.block, sl.rows = -1, 0
	}
	l := c.starts[b+1] - c.starts[b]
	c.reads++
	if err := c.src.ReadBlock(b, sl.theta[:l*c.dt], sl.x[:l*c.dx]); err != nil {
		c.err = fmt.Errorf("sbi: reading source block %d: %w", b, err)
		if c.cancel != nil {
			c.cancel(c.err)
		}
		return nil
	}
	sl.block, sl.rows, sl.used = b, l, c.tick
	c.slotOf[b] = int32(s)
	c.resident += l
	c.maxResident = max(c.maxResident, c.resident)
	return sl
}

// gather copies the rows idx (global indices) into th and xs, row-major.
// After a read error the rows it could not read are NaN, so that the loss
// is not finite (flows.Fit skips such a step, and stops on the cancelled
// context).
func (c *blockCache) gather(idx []int, th, xs []float64) {
	dt, dx := c.dt, c.dx
	b := -1
	var sl *cacheSlot
	for k, r := range idx {
		if b < 0 || r < c.starts[b] || r >= c.starts[b+1] {
			b = sort.SearchInts(c.starts, r+1) - 1
			sl = c.block(b)
		}
		if sl == nil {
			for j := range dt {
				th[k*dt+j] = math.NaN()
			}
			for j := range dx {
				xs[k*dx+j] = math.NaN()
			}
			continue
		}
		o := r - c.starts[b]
		copy(th[k*dt:(k+1)*dt], sl.theta[o*dt:(o+1)*dt])
		copy(xs[k*dx:(k+1)*dx], sl.x[o*dx:(o+1)*dx])
	}
}
