// Package soap is the vim25 SOAP front end: an http.Handler for /sdk that
// decodes the envelope, finds the caller's session, resolves the target
// managed object, dispatches to the handler registered for the object's type
// and method, and encodes the reply in the API version the client
// negotiated. Errors become SOAP faults here and nowhere else.
package soap
