package browser_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
)

// cdp is a Chrome DevTools Protocol client on the browser's websocket.
// Pages are driven through flattened sessions (Target.attachToTarget with
// flatten), so one connection carries every command.
type cdp struct {
	ws      *wsConn
	onEvent func(cdpEvent) // runs on the reader goroutine

	mu      sync.Mutex
	nextID  int64
	pending map[int64]chan cdpReply

	done chan struct{} // closed when the reader stops; err says why
	err  error
}

type cdpEvent struct {
	Method    string          `json:"method"`
	SessionID string          `json:"sessionId"`
	Params    json.RawMessage `json:"params"`
}

type cdpReply struct {
	ID     int64           `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Data    string `json:"data"`
	} `json:"error"`
}

// dialCDP connects to the browser endpoint Chromium printed. onEvent may
// be nil.
func dialCDP(ctx context.Context, wsURL string, onEvent func(cdpEvent)) (*cdp, error) {
	ws, err := dialWS(ctx, wsURL)
	if err != nil {
		return nil, fmt.Errorf("cdp: %w", err)
	}
	c := &cdp{ws: ws, onEvent: onEvent, pending: map[int64]chan cdpReply{}, done: make(chan struct{})}
	go c.read()
	return c, nil
}

func (c *cdp) read() {
	defer close(c.done)
	for {
		msg, err := c.ws.readMessage()
		if err != nil {
			c.err = err
			return
		}
		// Replies carry the id of their command; events carry none.
		var head struct {
			ID *int64 `json:"id"`
		}
		if err := json.Unmarshal(msg, &head); err != nil {
			c.err = fmt.Errorf("cdp: bad message %.200q: %w", msg, err)
			return
		}
		if head.ID == nil {
			if c.onEvent != nil {
				var ev cdpEvent
				if err := json.Unmarshal(msg, &ev); err == nil {
					c.onEvent(ev)
				}
			}
			continue
		}
		var r cdpReply
		if err := json.Unmarshal(msg, &r); err != nil {
			c.err = fmt.Errorf("cdp: bad reply %.200q: %w", msg, err)
			return
		}
		c.mu.Lock()
		ch := c.pending[r.ID]
		delete(c.pending, r.ID)
		c.mu.Unlock()
		if ch != nil {
			ch <- r // buffered: the caller may have given up
		}
	}
}

// call runs method in session (the browser itself when session is "")
// and decodes its result into result unless that is nil.
func (c *cdp) call(ctx context.Context, session, method string, params, result any) error {
	if params == nil {
		params = struct{}{}
	}
	ch := make(chan cdpReply, 1)
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	c.pending[id] = ch
	c.mu.Unlock()
	forget := func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}

	msg, err := json.Marshal(struct {
		ID        int64  `json:"id"`
		SessionID string `json:"sessionId,omitempty"`
		Method    string `json:"method"`
		Params    any    `json:"params"`
	}{id, session, method, params})
	if err != nil {
		forget()
		return fmt.Errorf("cdp: %s: %w", method, err)
	}
	if err := c.ws.writeText(msg); err != nil {
		forget()
		return fmt.Errorf("cdp: %s: %w", method, err)
	}
	select {
	case r := <-ch:
		if r.Error != nil {
			return fmt.Errorf("cdp: %s: %s (%d) %s", method, r.Error.Message, r.Error.Code, r.Error.Data)
		}
		if result == nil {
			return nil
		}
		if err := json.Unmarshal(r.Result, result); err != nil {
			return fmt.Errorf("cdp: %s: decoding result: %w", method, err)
		}
		return nil
	case <-c.done:
		return fmt.Errorf("cdp: %s: connection lost: %w", method, c.err)
	case <-ctx.Done():
		forget()
		return fmt.Errorf("cdp: %s: %w", method, ctx.Err())
	}
}

func (c *cdp) Close() error {
	err := c.ws.Close()
	<-c.done
	return err
}

// page is a browser tab reached through its flattened session.
type page struct {
	c       *cdp
	session string
}

// newPage opens a blank tab and attaches to it. The tab starts blank so
// the test can time navigation itself.
func (c *cdp) newPage(ctx context.Context) (*page, error) {
	var target struct {
		TargetID string `json:"targetId"`
	}
	if err := c.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &target); err != nil {
		return nil, err
	}
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	if err := c.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &attached); err != nil {
		return nil, err
	}
	p := &page{c: c, session: attached.SessionID}
	// Console messages and uncaught exceptions arrive as events from here
	// on; they are what explains a page that never plays.
	if err := c.call(ctx, p.session, "Runtime.enable", nil, nil); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *page) navigate(ctx context.Context, url string) error {
	var res struct {
		ErrorText string `json:"errorText"`
	}
	if err := p.c.call(ctx, p.session, "Page.navigate", map[string]any{"url": url}, &res); err != nil {
		return err
	}
	if res.ErrorText != "" {
		return fmt.Errorf("cdp: navigate to %s: %s", url, res.ErrorText)
	}
	return nil
}

// eval evaluates expr in the page, awaiting it if it is a promise, and
// decodes its JSON value into out. An undefined result decodes as null.
func (p *page) eval(ctx context.Context, expr string, out any) error {
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	params := map[string]any{"expression": expr, "awaitPromise": true, "returnByValue": true}
	if err := p.c.call(ctx, p.session, "Runtime.evaluate", params, &res); err != nil {
		return err
	}
	if d := res.ExceptionDetails; d != nil {
		return fmt.Errorf("javascript exception: %s %s", d.Text, d.Exception.Description)
	}
	v := res.Result.Value
	if len(v) == 0 {
		v = json.RawMessage("null")
	}
	if err := json.Unmarshal(v, out); err != nil {
		return fmt.Errorf("decoding %.200s: %w", v, err)
	}
	return nil
}
