package pca

import "math"

// jacobi diagonalises the symmetric n×n matrix a (row-major, overwritten)
// by cyclic Jacobi rotations, writing the eigenvalues into val and the
// eigenvectors as the columns of vec (row-major n×n), sorted by descending
// eigenvalue. order is scratch of length n. It allocates nothing.
func jacobi(a []float64, n int, val, vec []float64, tmp []float64, order []int) {
	for i := range n {
		for j := range n {
			vec[i*n+j] = 0
		}
		vec[i*n+i] = 1
	}
	for sweep := 0; sweep < 64; sweep++ {
		var off, diag float64
		for i := range n {
			diag += a[i*n+i] * a[i*n+i]
			for j := i + 1; j < n; j++ {
				off += a[i*n+j] * a[i*n+j]
			}
		}
		if off <= 1e-24*diag || off == 0 {
			break
		}
		for p := 0; p < n; p++ {
			for q := p + 1; q < n; q++ {
				apq := a[p*n+q]
				if apq == 0 {
					continue
				}
				app, aqq := a[p*n+p], a[q*n+q]
				theta := (aqq - app) / (2 * apq)
				t := math.Copysign(1, theta) / (math.Abs(theta) + math.Sqrt(theta*theta+1))
				c := 1 / math.Sqrt(t*t+1)
				s := t * c
				for k := range n {
					akp, akq := a[k*n+p], a[k*n+q]
					a[k*n+p] = c*akp - s*akq
					a[k*n+q] = s*akp + c*akq
				}
				for k := range n {
					apk, aqk := a[p*n+k], a[q*n+k]
					a[p*n+k] = c*apk - s*aqk
					a[q*n+k] = s*apk + c*aqk
				}
				for k := range n {
					vkp, vkq := vec[k*n+p], vec[k*n+q]
					vec[k*n+p] = c*vkp - s*vkq
					vec[k*n+q] = s*vkp + c*vkq
				}
			}
		}
	}
	// Sort by descending eigenvalue (insertion sort: n is small).
	for i := range n {
		order[i] = i
	}
	for i := 1; i < n; i++ {
		for j := i; j > 0 && a[order[j]*n+order[j]] > a[order[j-1]*n+order[j-1]]; j-- {
			order[j], order[j-1] = order[j-1], order[j]
		}
	}
	copy(tmp, vec[:n*n])
	for c, src := range order[:n] {
		val[c] = a[src*n+src]
		for k := range n {
			vec[k*n+c] = tmp[k*n+src]
		}
	}
}
