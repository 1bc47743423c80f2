package vim

//go:generate go run ./gentypeversion
