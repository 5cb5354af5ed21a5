package media

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"
)

// origPrefix holds the originals as uploaded: they may carry EXIF and GPS
// metadata, so they are kept for reprocessing but never served.
const origPrefix = "orig/"

// Handler serves GET and HEAD /media/<key> from st, with range requests
// and If-Modified-Since (through http.ServeContent). Mount it at /media/
// without stripping the prefix.
//
// The files come from other agents, so the headers treat them as hostile:
// nosniff keeps browsers to the declared image type, and the CSP sandbox
// stops anything that slips through from running as the instance's origin.
func Handler(st Storage) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		// The key is what follows /media/, checked like any Storage key:
		// that refuses "..", encoded slashes that decode into traversal,
		// and names that are not images.
		key, ok := strings.CutPrefix(r.URL.Path, "/media/")
		if !ok || strings.HasPrefix(key, origPrefix) {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		keyType, err := keyContentType(key)
		if err != nil {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		f, err := st.Open(r.Context(), key)
		if errors.Is(err, ErrNotExist) {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		if err != nil {
			slog.ErrorContext(r.Context(), "media: open", "key", key, "err", err)
			http.Error(w, "internal server error", http.StatusInternalServerError)
			return
		}
		defer f.Close()

		// Only image types are ever served: an object given another type
		// by some other tool gets the one its name stands for.
		ct := f.ContentType()
		if !isImageType(ct) {
			ct = keyType
		}
		h := w.Header()
		h.Set("Content-Type", ct)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", immutableCache)
		h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
		http.ServeContent(w, r, "", f.ModTime(), f)
	})
}

func isImageType(ct string) bool {
	for _, t := range keyTypes {
		if ct == t {
			return true
		}
	}
	return false
}
