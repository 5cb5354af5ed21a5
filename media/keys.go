package media

import "fmt"

// Storage keys are content-addressed: derived from the SHA-256 of the
// original bytes, fanned out over two directory levels ("ab/cd/", 256
// entries each) so that a disk store of ten million images has about 150
// files a directory, and made only of [a-z0-9/_.] so they are safe as file
// paths, S3 keys and URL paths without escaping.

// OriginalKey is where the fetched bytes are kept as they came:
// "orig/ab/cd/<sha256>.<ext>". They are never served to other servers (the
// safe copy is), but keeping them lets a later version of Process redo the
// renditions.
func OriginalKey(sha256hex, mime string) string {
	return "orig/" + fanOut(sha256hex) + "." + ExtFor(mime)
}

// SafeKey is where the federation-safe copy is kept: "ab/cd/<sha256>.jpg" or
// ".png", after Image.Safe.Mime.
func SafeKey(sha256hex, mime string) string {
	return fanOut(sha256hex) + "." + ExtFor(mime)
}

// ThumbKey is where the thumbnail is kept: "ab/cd/<sha256>_thumb.jpg" or
// ".png", after Image.Thumb.Mime.
func ThumbKey(sha256hex, mime string) string {
	return fanOut(sha256hex) + "_thumb." + ExtFor(mime)
}

// ExtFor is the file extension of an image type Process produces or
// accepts, or "bin" for any other.
func ExtFor(mime string) string {
	switch mime {
	case "image/jpeg":
		return "jpg"
	case "image/png":
		return "png"
	case "image/gif":
		return "gif"
	case "image/webp":
		return "webp"
	}
	return "bin"
}

// fanOut is "ab/cd/<sha256hex>". The hash always comes from Image.SHA256;
// anything that is not 64 lower-case hex digits is a programming error, and
// silently mapping it to some key could collide with another image or, with
// "../", escape the store's directory, so it panics.
func fanOut(sha256hex string) string {
	if len(sha256hex) != 64 {
		panic(fmt.Sprintf("media: storage key from %q: not a hex SHA-256", sha256hex))
	}
	for i := 0; i < len(sha256hex); i++ {
		if c := sha256hex[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			panic(fmt.Sprintf("media: storage key from %q: not a lower-case hex SHA-256", sha256hex))
		}
	}
	return sha256hex[0:2] + "/" + sha256hex[2:4] + "/" + sha256hex
}
