package qemu

import (
	"encoding/binary"
	"os"
	"testing"
)

// Tiny x86 real-mode boot programs for the tests, loaded at 0000:7C00 by
// the BIOS. Each prints its message on the first serial port (COM1 at
// 0x3F8, which QEMU writes to serial.log) and then either powers the VM off
// through ACPI or prints a dot at every timer tick (18 a second) forever.
//
// The shared head, with the message at offset msgAt:
//
//	 0 FA        cli
//	 1 31 C0     xor ax, ax
//	 3 8E D8     mov ds, ax
//	 5 BE xx xx  mov si, 0x7C00+msgAt
//	 8 BA F8 03  mov dx, 0x3F8
//	11 FC        cld
//	12 AC        lodsb            ; print loop
//	13 84 C0     test al, al
//	15 74 03     jz 20
//	17 EE        out dx, al
//	18 EB F8     jmp 12
func bootHead(msgAt int) []byte {
	addr := 0x7C00 + msgAt
	return []byte{0xFA, 0x31, 0xC0, 0x8E, 0xD8, 0xBE, byte(addr), byte(addr >> 8),
		0xBA, 0xF8, 0x03, 0xFC, 0xAC, 0x84, 0xC0, 0x74, 0x03, 0xEE, 0xEB, 0xF8}
}

// poweroffProgram prints msg and powers the VM off: SLP_EN with sleep type
// 0 written to PM1a_CNT, at 0x604 (QEMU's PIIX4 under SeaBIOS) and 0xB004
// (older layouts).
//
//	20 BA 04 06  mov dx, 0x604
//	23 B8 00 20  mov ax, 0x2000
//	26 EF        out dx, ax
//	27 BA 04 B0  mov dx, 0xB004
//	30 EF        out dx, ax
//	31 F4        hlt
//	32 EB FD     jmp 31
func poweroffProgram(msg string) []byte {
	tail := []byte{0xBA, 0x04, 0x06, 0xB8, 0x00, 0x20, 0xEF, 0xBA, 0x04, 0xB0, 0xEF, 0xF4, 0xEB, 0xFD}
	return append(append(bootHead(34), tail...), append([]byte(msg), 0)...)
}

// tickerProgram prints msg, then a dot at every timer interrupt.
//
//	20 FB        sti
//	21 F4        hlt
//	22 B0 2E     mov al, '.'
//	24 EE        out dx, al
//	25 EB FA     jmp 21
func tickerProgram(msg string) []byte {
	tail := []byte{0xFB, 0xF4, 0xB0, '.', 0xEE, 0xEB, 0xFA}
	return append(append(bootHead(27), tail...), append([]byte(msg), 0)...)
}

// writeBootISO writes an ISO 9660 image at path that boots program through
// El Torito without emulation.
func writeBootISO(t *testing.T, path string, program []byte) {
	t.Helper()
	const (
		sector     = 2048
		pvdLBA     = 16
		bootRecLBA = 17
		termLBA    = 18
		catalogLBA = 19
		imageLBA   = 20
		rootLBA    = 21
		sectors    = 22
	)
	img := make([]byte, sectors*sector)
	at := func(lba int) []byte { return img[lba*sector : (lba+1)*sector] }
	both32 := func(b []byte, v uint32) {
		binary.LittleEndian.PutUint32(b, v)
		binary.BigEndian.PutUint32(b[4:], v)
	}
	both16 := func(b []byte, v uint16) {
		binary.LittleEndian.PutUint16(b, v)
		binary.BigEndian.PutUint16(b[2:], v)
	}
	dirRecord := func(b []byte, name byte) {
		b[0] = 34 // record length
		both32(b[2:], rootLBA)
		both32(b[10:], sector)
		b[25] = 2 // directory
		both16(b[28:], 1)
		b[32] = 1 // name length
		b[33] = name
	}

	pvd := at(pvdLBA)
	pvd[0] = 1
	copy(pvd[1:], "CD001")
	pvd[6] = 1
	copy(pvd[8:40], padded("VIREO", 32))
	copy(pvd[40:72], padded("VIREOBOOT", 32))
	both32(pvd[80:], sectors)
	both16(pvd[120:], 1)
	both16(pvd[124:], 1)
	both16(pvd[128:], sector)
	dirRecord(pvd[156:], 0)
	pvd[881] = 1

	br := at(bootRecLBA)
	copy(br[1:], "CD001")
	br[6] = 1
	copy(br[7:], "EL TORITO SPECIFICATION")
	binary.LittleEndian.PutUint32(br[71:], catalogLBA)

	term := at(termLBA)
	term[0] = 255
	copy(term[1:], "CD001")
	term[6] = 1

	cat := at(catalogLBA)
	cat[0] = 1 // validation entry, platform 0 (x86)
	cat[30], cat[31] = 0x55, 0xAA
	var sum uint16
	for i := 0; i < 32; i += 2 {
		sum += binary.LittleEndian.Uint16(cat[i:])
	}
	binary.LittleEndian.PutUint16(cat[28:], -sum)
	cat[32] = 0x88                             // bootable
	binary.LittleEndian.PutUint16(cat[38:], 1) // one 512-byte sector
	binary.LittleEndian.PutUint32(cat[40:], imageLBA)

	if len(program) > 512 {
		t.Fatalf("boot program of %d bytes does not fit a sector", len(program))
	}
	copy(at(imageLBA), program)
	dirRecord(at(rootLBA), 0)
	dirRecord(at(rootLBA)[34:], 1)

	if err := os.WriteFile(path, img, 0o644); err != nil {
		t.Fatal(err)
	}
}

func padded(s string, n int) []byte {
	b := []byte(s)
	for len(b) < n {
		b = append(b, ' ')
	}
	return b
}
