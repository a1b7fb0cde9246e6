package detectors

// reorder heap (min by time, then arrival)
func (e *Engine) less(i, j int) bool {
	a, b := &e.heap[i], &e.heap[j]
	return a.t < b.t || (a.t == b.t && a.seq < b.seq)
}

func (e *Engine) push(p pending) {
	e.heap = append(e.heap, p)
	i := len(e.heap) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if !e.less(i, parent) {
			break
		}
		e.heap[i], e.heap[parent] = e.heap[parent], e.heap[i]
		i = parent
	}
}

func (e *Engine) pop() pending {
	top := e.heap[0]
	n := len(e.heap) - 1
	e.heap[0] = e.heap[n]
	e.heap[n] = pending{}
	e.heap = e.heap[:n]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && e.less(l, m) {
			m = l
		}
		if r < n && e.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		e.heap[i], e.heap[m] = e.heap[m], e.heap[i]
		i = m
	}
	return top
}
