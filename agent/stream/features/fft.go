package features

import (
	"fmt"
	"math"
	"math/bits"
)

// FFT is a radix-2 real FFT of a fixed size, with its twiddles and scratch
// allocated once. An N-point real transform runs as an N/2-point complex one
// on the even and odd samples packed as real and imaginary parts, then split.
// An FFT is not safe for concurrent use.
type FFT struct {
	n, half int
	rev     []int        // bit reversal of 0..half-1
	tw      []complex128 // exp(-2πik/half), k < half/2
	split   []complex128 // exp(-2πik/n), k <= half
	z       []complex128
}

// NewFFT returns an FFT of n points, n a power of two of at least 4.
func NewFFT(n int) (*FFT, error) {
	if n < 4 || n&(n-1) != 0 {
		return nil, fmt.Errorf("fft size %d: want a power of two >= 4", n)
	}
	h := n / 2
	f := &FFT{
		n: n, half: h,
		rev:   make([]int, h),
		tw:    make([]complex128, max(h/2, 1)),
		split: make([]complex128, h+1),
		z:     make([]complex128, h),
	}
	shift := 64 - bits.Len(uint(h-1))
	for i := range f.rev {
		if h > 1 {
			f.rev[i] = int(bits.Reverse64(uint64(i)) >> shift)
		}
	}
	for k := range f.tw {
		s, c := math.Sincos(-2 * math.Pi * float64(k) / float64(h))
		f.tw[k] = complex(c, s)
	}
	for k := range f.split {
		s, c := math.Sincos(-2 * math.Pi * float64(k) / float64(n))
		f.split[k] = complex(c, s)
	}
	return f, nil
}

// Len returns the transform size.
func (f *FFT) Len() int { return f.n }

// Power writes |X_k|² for k = 0..n/2 into dst (which needs n/2+1 elements)
// for the real input x, zero-padded or truncated to n points.
func (f *FFT) Power(x, dst []float64) {
	h := f.half
	at := func(i int) float64 {
		if i < len(x) {
			return x[i]
		}
		return 0
	}
	for m := range h {
		f.z[f.rev[m]] = complex(at(2*m), at(2*m+1))
	}
	f.transform()
	z := f.z
	for k := 0; k <= h; k++ {
		zk, zc := z[k%h], z[(h-k)%h]
		zc = complex(real(zc), -imag(zc))
		even := (zk + zc) * 0.5
		d := zk - zc
		odd := complex(imag(d)*0.5, -real(d)*0.5) // d / 2i, without a runtime division
		xk := even + f.split[k]*odd
		dst[k] = real(xk)*real(xk) + imag(xk)*imag(xk)
	}
}

// transform is an in-place iterative radix-2 FFT of z, already in
// bit-reversed order.
func (f *FFT) transform() {
	z, h := f.z, f.half
	for size := 2; size <= h; size <<= 1 {
		step := h / size
		hs := size / 2
		for start := 0; start < h; start += size {
			for j := range hs {
				w := f.tw[j*step]
				a, b := z[start+j], z[start+j+hs]*w
				z[start+j], z[start+j+hs] = a+b, a-b
			}
		}
	}
}
