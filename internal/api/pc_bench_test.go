package api_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
	"github.com/vmware/govmomi/vim25/xml"

	"github.com/vireo-project/vireo/internal/api"
)

// benchVMs is the inventory size of the benchmarks (the benchmark
// asks for at least 4,000 VMs).
const benchVMs = 4000

// BenchmarkRetrieveAllVMs measures a full-inventory retrieval through a
// container view, as a client listing every VM does: name, power state and
// memory size of each of 4,000 VMs, over HTTPS with govmomi's client.
func BenchmarkRetrieveAllVMs(b *testing.B) {
	inv := newPCInv(b, benchVMs)
	ctx := context.Background()
	v, err := view.NewManager(inv.srv.Client.Client).CreateContainerView(ctx, api.RootFolderRef, []string{"VirtualMachine"}, true)
	if err != nil {
		b.Fatal(err)
	}
	props := []string{"name", "runtime.powerState", "config.hardware.memoryMB"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var vms []mo.VirtualMachine
		if err := v.Retrieve(ctx, []string{"VirtualMachine"}, props, &vms); err != nil {
			b.Fatal(err)
		}
		if len(vms) != benchVMs {
			b.Fatalf("retrieved %d VMs", len(vms))
		}
	}
}

// BenchmarkRetrieveAllVMsServer is BenchmarkRetrieveAllVMs without the
// client's XML decoding: the same RetrievePropertiesEx request is posted and
// the reply read and discarded, so the time is the server's (and the
// transport's).
func BenchmarkRetrieveAllVMsServer(b *testing.B) {
	inv := newPCInv(b, benchVMs)
	ctx := context.Background()
	c := inv.srv.Client.Client
	v, err := view.NewManager(c).CreateContainerView(ctx, api.RootFolderRef, []string{"VirtualMachine"}, true)
	if err != nil {
		b.Fatal(err)
	}
	spec := types.PropertyFilterSpec{
		ObjectSet: []types.ObjectSpec{{Obj: v.Reference(), Skip: types.NewBool(true), SelectSet: []types.BaseSelectionSpec{
			&types.TraversalSpec{Type: "ContainerView", Path: "view"},
		}}},
		PropSet: []types.PropertySpec{{Type: "VirtualMachine", PathSet: []string{"name", "runtime.powerState", "config.hardware.memoryMB"}}},
	}
	body, err := xml.Marshal(types.RetrievePropertiesEx{This: c.ServiceContent.PropertyCollector, SpecSet: []types.PropertyFilterSpec{spec}})
	if err != nil {
		b.Fatal(err)
	}
	envelope := `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>` +
		strings.Replace(string(body), "<RetrievePropertiesEx>", `<RetrievePropertiesEx xmlns="urn:vim25">`, 1) + `</soapenv:Body></soapenv:Envelope>`
	var size int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.URL().String(), strings.NewReader(envelope))
		req.Header.Set("Content-Type", "text/xml; charset=utf-8")
		req.Header.Set("SOAPAction", "urn:vim25/8.0.3.0")
		res, err := c.Client.Client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		size, err = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if err != nil || res.StatusCode != http.StatusOK {
			b.Fatalf("status %d, %v", res.StatusCode, err)
		}
	}
	b.ReportMetric(float64(size), "reply-bytes")
}

// BenchmarkWaitForUpdateAfterChange measures the latency from a registry
// change (one VM's power state, committed to SQLite) to the return of a
// WaitForUpdatesEx call blocked on a filter over all 4,000 VMs. It reports
// the latency (change started to update received) and the commit's own
// share of it.
func BenchmarkWaitForUpdateAfterChange(b *testing.B) {
	inv := newPCInv(b, benchVMs)
	c := inv.srv.Client.Client
	w := newPCWaiter(b, c, c.ServiceContent.PropertyCollector, pcVMView(b, inv, "name", "runtime.powerState"), false)
	all := pcWait(0)
	all.MaxObjectUpdates = benchVMs
	if _, err := w.wait(all); err != nil || len(w.objs) != benchVMs {
		b.Fatalf("initial update: %d objects, %v", len(w.objs), err)
	}
	var latency, commit time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ref := inv.vms[i%benchVMs]
		state := types.VirtualMachinePowerStatePoweredOn
		if i/benchVMs%2 == 1 {
			state = types.VirtualMachinePowerStatePoweredOff
		}
		done := make(chan error, 1)
		go func() {
			set, err := w.wait(nil)
			if err == nil && (set == nil || len(set.FilterSet) != 1 || len(set.FilterSet[0].ObjectSet) != 1) {
				b.Errorf("update set = %+v", set)
			}
			done <- err
		}()
		start := time.Now()
		inv.setPower(b, ref, state)
		commit += time.Since(start)
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		latency += time.Since(start)
		if got := w.objs[ref.Value]["runtime.powerState"]; got != state {
			b.Fatalf("%s: waiter saw %v, want %v", ref.Value, got, state)
		}
	}
	b.ReportMetric(float64(latency.Microseconds())/float64(b.N), "µs-latency/op")
	b.ReportMetric(float64(commit.Microseconds())/float64(b.N), "µs-commit/op")
}
