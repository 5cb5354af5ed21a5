package media

import (
	"bytes"
	"encoding/binary"
)

// jpegInfo is what Process needs from a JPEG's headers that image/jpeg
// does not tell.
type jpegInfo struct {
	orientation int      // EXIF Orientation 1 to 8; 0 when absent
	progressive bool     // SOF2: the decoder keeps every coefficient
	sampling    [][2]int // per component: horizontal, vertical factor
}

// scanJPEG walks the marker segments up to the first scan. It never fails:
// whatever it cannot read is left at its zero value, and the decoder has
// the last word on whether the file is valid.
func scanJPEG(data []byte) jpegInfo {
	var info jpegInfo
	for i := 2; i+4 <= len(data) && data[i] == 0xff; {
		marker := data[i+1]
		switch {
		case marker == 0xff: // fill byte
			i++
			continue
		case marker == 0x01 || marker >= 0xd0 && marker <= 0xd8: // no payload
			i += 2
			continue
		case marker == 0xda || marker == 0xd9: // start of scan, end of image
			return info
		}
		n := int(binary.BigEndian.Uint16(data[i+2:]))
		if n < 2 || i+2+n > len(data) {
			return info
		}
		seg := data[i+4 : i+2+n]
		switch {
		case marker == 0xe1 && info.orientation == 0 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")):
			info.orientation = exifOrientation(seg[6:])
		case marker == 0xc0 || marker == 0xc1 || marker == 0xc2:
			// SOF: precision, height, width, component count, then
			// id, sampling factors and table for each component.
			info.progressive = marker == 0xc2
			info.sampling = nil
			for c := 6; c+3 <= len(seg) && len(info.sampling) < int(seg[5]); c += 3 {
				info.sampling = append(info.sampling, [2]int{max(int(seg[c+1]>>4), 1), max(int(seg[c+1]&15), 1)})
			}
		}
		i += 2 + n
	}
	return info
}

// exifOrientation reads tag 0x0112 (Orientation) from the first IFD of an
// EXIF TIFF structure, or returns 0. Only this one tag is needed, so a
// full EXIF library (and its dependencies) would be dead weight.
func exifOrientation(tiff []byte) int {
	if len(tiff) < 8 {
		return 0
	}
	var bo binary.ByteOrder
	switch string(tiff[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 0
	}
	if bo.Uint16(tiff[2:]) != 42 {
		return 0
	}
	ifd := uint64(bo.Uint32(tiff[4:]))
	if ifd+2 > uint64(len(tiff)) {
		return 0
	}
	count := uint64(bo.Uint16(tiff[ifd:]))
	for e := ifd + 2; e+12 <= uint64(len(tiff)) && e < ifd+2+12*count; e += 12 {
		// An entry: tag, type (3 is SHORT), count, value.
		if bo.Uint16(tiff[e:]) == 0x0112 {
			if v := int(bo.Uint16(tiff[e+8:])); bo.Uint16(tiff[e+2:]) == 3 && v >= 1 && v <= 8 {
				return v
			}
			return 0
		}
	}
	return 0
}
