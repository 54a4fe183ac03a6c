//go:build cgo

package rendition

// #cgo pkg-config: vips
// #include <stdlib.h>
// #include <vips/vips.h>
import "C"

import "unsafe"

// allowedLoaders are the libvips loaders (and their file, buffer and
// source subclasses) that may run: the formats accepts lets through.
// libvips as Debian builds it also carries loaders for PDF, SVG, FITS,
// Matlab, OpenEXR and more, each a parser of hostile input that a photo
// gateway never needs.
var allowedLoaders = [...]string{
	"VipsForeignLoadJpeg", "VipsForeignLoadPng", "VipsForeignLoadWebp",
	"VipsForeignLoadHeif", "VipsForeignLoadTiff",
}

// restrictLoaders blocks every libvips loader but allowedLoaders, process
// wide: the allow-list holds even if a sniffing mistake above hands
// libvips bytes of another format. It must run after vips.Startup.
func restrictLoaders() {
	block := func(name string, blocked bool) {
		cName := C.CString(name)
		defer C.free(unsafe.Pointer(cName))
		state := C.gboolean(0)
		if blocked {
			state = 1
		}
		C.vips_operation_block_set(cName, state)
	}
	block("VipsForeignLoad", true)
	for _, name := range allowedLoaders {
		block(name, false)
	}
}
