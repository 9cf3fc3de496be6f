package plots

import (
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// isolines returns the contour loops of g at the level t > 0 by marching squares
// on the cell centres of g, with a border of zero-valued cells around the grid
// so that every loop closes (it then runs half a cell outside the grid and is
// clipped when drawn). Loops are oriented with values ≥ t on their left: outer
// boundaries counter-clockwise, holes clockwise, so that filling all loops of
// a level together with the non-zero winding rule fills exactly {z ≥ t}.
// Saddle cells are resolved by the mean of their corners. The last point of a
// loop repeats its first.
func isolines(g *grid, t float64) []plotter.XYs {
	nx, ny := g.nx+2, g.ny+2 // padded corner counts
	val := func(i, j int) float64 {
		if i == 0 || j == 0 || i == nx-1 || j == ny-1 {
			return 0
		}
		return g.Z(i-1, j-1)
	}
	// Edge keys: 2*(j*nx+i) for the horizontal edge (i,j)-(i+1,j),
	// 2*(j*nx+i)+1 for the vertical edge (i,j)-(i,j+1).
	hKey := func(i, j int) int { return 2 * (j*nx + i) }
	vKey := func(i, j int) int { return 2*(j*nx+i) + 1 }
	next := make([]int, 2*nx*ny)
	for k := range next {
		next[k] = -1
	}
	type crossing struct {
		key int
		out bool // inside → outside in counter-clockwise order
	}
	var cr [4]crossing
	for j := range ny - 1 {
		for i := range nx - 1 {
			v := [4]float64{val(i, j), val(i+1, j), val(i+1, j+1), val(i, j+1)}
			keys := [4]int{hKey(i, j), vKey(i+1, j), hKey(i, j+1), vKey(i, j)}
			n := 0
			for e := range 4 {
				in0, in1 := v[e] >= t, v[(e+1)%4] >= t
				if in0 != in1 {
					cr[n] = crossing{key: keys[e], out: in0}
					n++
				}
			}
			switch n {
			case 2:
				if cr[0].out {
					next[cr[0].key] = cr[1].key
				} else {
					next[cr[1].key] = cr[0].key
				}
			case 4:
				// Crossings alternate between leaving and entering. With the
				// centre inside, a leaving crossing joins the following entering
				// one (the two inside corners connect); otherwise the preceding.
				centreIn := (v[0]+v[1]+v[2]+v[3])/4 >= t
				for k := range 4 {
					if !cr[k].out {
						continue
					}
					if centreIn {
						next[cr[k].key] = cr[(k+1)%4].key
					} else {
						next[cr[k].key] = cr[(k+3)%4].key
					}
				}
			}
		}
	}
	point := func(key int) plotter.XY {
		c := key / 2
		i, j := c%nx, c/nx
		x := func(i int) float64 { return g.x0 + (float64(i)-0.5)*g.dx }
		y := func(j int) float64 { return g.y0 + (float64(j)-0.5)*g.dy }
		v0 := val(i, j)
		if key%2 == 0 {
			f := (t - v0) / (val(i+1, j) - v0)
			return plotter.XY{X: x(i) + f*g.dx, Y: y(j)}
		}
		f := (t - v0) / (val(i, j+1) - v0)
		return plotter.XY{X: x(i), Y: y(j) + f*g.dy}
	}
	var loops []plotter.XYs
	for start := range next {
		if next[start] < 0 {
			continue
		}
		var loop plotter.XYs
		for k := start; next[k] >= 0; {
			loop = append(loop, point(k))
			k, next[k] = next[k], -1
		}
		loop = append(loop, loop[0])
		loops = append(loops, loop)
	}
	return loops
}

// contours draws the highest-density-region contours of a density grid: the
// outermost level thin, the innermost thick, with an optional light fill of
// the regions (nested regions add up).
type contours struct {
	grid   *grid
	levels []float64 // density thresholds, ascending (outermost region first)
	color  color.Color
	fill   bool
}

// newContours returns the contours of g at the credibility levels (ascending), or
// nil when g holds no mass.
func newContours(g *grid, levels []float64, c color.Color, fill bool) *contours {
	th := credibleThresholds(g.z, levels)
	if th == nil {
		return nil
	}
	// Higher credibility means a lower threshold: reverse to ascending values
	// and drop duplicates (sparse grids can give equal thresholds).
	var asc []float64
	for k := len(th) - 1; k >= 0; k-- {
		if len(asc) == 0 || th[k] > asc[len(asc)-1] {
			asc = append(asc, th[k])
		}
	}
	return &contours{grid: g, levels: asc, color: c, fill: fill}
}

func (ct *contours) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	n := len(ct.levels)
	for k, t := range ct.levels {
		loops := isolines(ct.grid, t)
		rings := make([][]vg.Point, len(loops))
		for r, loop := range loops {
			rings[r] = make([]vg.Point, len(loop))
			for q, xy := range loop {
				rings[r][q] = vg.Point{X: trX(xy.X), Y: trY(xy.Y)}
			}
		}
		if ct.fill {
			var path vg.Path
			for _, ring := range rings {
				clipped := c.ClipPolygonXY(ring)
				if len(clipped) < 3 {
					continue
				}
				path.Move(clipped[0])
				for _, q := range clipped[1:] {
					path.Line(q)
				}
				path.Close()
			}
			if len(path) > 0 {
				c.SetColor(withAlpha(ct.color, 0.07))
				c.Fill(path)
			}
		}
		// Outermost 0.8 pt, innermost 1.4 pt.
		w := vg.Length(1.4)
		if n > 1 {
			w = vg.Length(0.8 + 0.6*float64(k)/float64(n-1))
		}
		c.StrokeLines(lineStyle(ct.color, w), c.ClipLinesXY(rings...)...)
	}
}
