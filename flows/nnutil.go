package flows

import "github.com/gosbi/gosbi/nn"

// constOf returns a tensor sharing t's values (and name) that is a constant:
// tapes never record gradients for it. nil stays nil.
func constOf(t *nn.Tensor) *nn.Tensor {
	if t == nil {
		return nil
	}
	return &nn.Tensor{Rows: t.Rows, Cols: t.Cols, Data: t.Data, Name: t.Name}
}

func frozenLinear(l *nn.Linear) *nn.Linear {
	return &nn.Linear{W: constOf(l.W), B: constOf(l.B)}
}

func frozenMasked(l *nn.MaskedLinear) *nn.MaskedLinear {
	return &nn.MaskedLinear{Linear: *frozenLinear(&l.Linear), M: l.M}
}

// rowsOf returns a view of rows [from, to) of t's values as a tensor (no copy).
func rowsOf(t *nn.Tensor, from, to int) *nn.Tensor {
	return nn.FromSlice(to-from, t.Cols, t.Data[from*t.Cols:to*t.Cols])
}
