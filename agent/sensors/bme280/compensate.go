package bme280

import "encoding/binary"

// Calibration holds the chip's trimming parameters (Table 16).
type Calibration struct {
	T1         uint16
	T2, T3     int16
	P1         uint16
	P2, P3, P4 int16
	P5, P6, P7 int16
	P8, P9     int16
	H1         uint8
	H2         int16
	H3         uint8
	H4, H5     int16 // 12-bit signed
	H6         int8
}

// ParseCalibration decodes the trimming parameters from the 26 bytes at
// 0x88..0xA1 and the 7 bytes at 0xE1..0xE7. Words are little-endian;
// dig_H4 is 0xE4[7:0]·16 + 0xE5[3:0] and dig_H5 is 0xE6[7:0]·16 + 0xE5[7:4],
// both signed.
func ParseCalibration(a [CalibLenA]byte, b [CalibLenB]byte) Calibration {
	u := func(i int) uint16 { return binary.LittleEndian.Uint16(a[i:]) }
	s := func(i int) int16 { return int16(u(i)) }
	return Calibration{
		T1: u(0), T2: s(2), T3: s(4),
		P1: u(6), P2: s(8), P3: s(10), P4: s(12), P5: s(14), P6: s(16), P7: s(18), P8: s(20), P9: s(22),
		H1: a[25],
		H2: int16(binary.LittleEndian.Uint16(b[0:])),
		H3: b[2],
		H4: int16(int8(b[3]))<<4 | int16(b[4]&0x0F),
		H5: int16(int8(b[5]))<<4 | int16(b[4]>>4),
		H6: int8(b[6]),
	}
}

// Bytes encodes c as the two calibration blocks, the inverse of
// ParseCalibration.
func (c *Calibration) Bytes() (a [CalibLenA]byte, b [CalibLenB]byte) {
	le := binary.LittleEndian
	for i, v := range [...]uint16{c.T1, uint16(c.T2), uint16(c.T3), c.P1, uint16(c.P2), uint16(c.P3),
		uint16(c.P4), uint16(c.P5), uint16(c.P6), uint16(c.P7), uint16(c.P8), uint16(c.P9)} {
		le.PutUint16(a[2*i:], v)
	}
	a[25] = c.H1
	le.PutUint16(b[0:], uint16(c.H2))
	b[2] = c.H3
	b[3] = byte(c.H4 >> 4)
	b[4] = byte(c.H4&0x0F) | byte(c.H5&0x0F)<<4
	b[5] = byte(c.H5 >> 4)
	b[6] = byte(c.H6)
	return a, b
}

// Compensate turns raw readings into temperature in 0.01 °C, pressure in Pa
// as Q24.8 and humidity in %RH as Q22.10, with the data sheet's integer
// formulas (BME280_compensate_T_int32, BME280_compensate_P_int64,
// bme280_compensate_H_int32). Pressure is 0 if the calibration would divide
// by zero.
func (c *Calibration) Compensate(adcT, adcP, adcH int32) (t int32, p uint32, h uint32) {
	// Temperature, and t_fine, which pressure and humidity depend on.
	var1 := ((adcT >> 3) - int32(c.T1)<<1) * int32(c.T2) >> 11
	d := (adcT >> 4) - int32(c.T1)
	var2 := (d * d >> 12) * int32(c.T3) >> 14
	tFine := var1 + var2
	t = (tFine*5 + 128) >> 8

	// Pressure, 64-bit.
	v1 := int64(tFine) - 128000
	v2 := v1 * v1 * int64(c.P6)
	v2 += (v1 * int64(c.P5)) << 17
	v2 += int64(c.P4) << 35
	v1 = (v1 * v1 * int64(c.P3) >> 8) + (v1 * int64(c.P2) << 12)
	v1 = ((int64(1) << 47) + v1) * int64(c.P1) >> 33
	if v1 != 0 {
		pp := 1048576 - int64(adcP)
		pp = ((pp<<31 - v2) * 3125) / v1
		v1 = int64(c.P9) * (pp >> 13) * (pp >> 13) >> 25
		v2 = int64(c.P8) * pp >> 19
		pp = (pp+v1+v2)>>8 + int64(c.P7)<<4
		p = uint32(pp)
	}

	// Humidity.
	x := tFine - 76800
	a := (adcH<<14 - int32(c.H4)<<20 - int32(c.H5)*x + 16384) >> 15
	b := ((((x*int32(c.H6))>>10)*(((x*int32(c.H3))>>11)+32768)>>10+2097152)*int32(c.H2) + 8192) >> 14
	x = a * b
	x -= ((x >> 15) * (x >> 15) >> 7) * int32(c.H1) >> 4
	x = max(0, min(x, 419430400))
	h = uint32(x >> 12)
	return t, p, h
}
